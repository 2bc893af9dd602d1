"""``Authorization: Bearer <key>`` (or ``Token <key>``) authentication for the REST API."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from oms.api.throttling import UnauthenticatedRateThrottle
from oms.api.tokens import api_token_for_key


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Authorization: Bearer <key>`` or ``Authorization: Token <key>`` against
    ``oms.api.models.ApiToken`` (the scheme name in any case).

    On success ``request.user`` is the token's user and ``request.auth`` the ``ApiToken``.
    A missing header (or another scheme) leaves the request anonymous (the permission then
    answers 401); a malformed header, an unknown or revoked key, or an inactive user answers
    401 with ``WWW-Authenticate: Bearer realm="api"``. Either way the request counts against
    the client address's ``UnauthenticatedRateThrottle``; beyond it the answer is 429
    ``throttled`` instead. The token and its user are read on every request
    (``oms.api.tokens.api_token_for_key``): a revocation applies at once.
    """

    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            self._throttle_unauthenticated(request)
            return None
        if len(parts) != 2:
            self._throttle_unauthenticated(request)
            raise exceptions.AuthenticationFailed("Invalid authorization header: use 'Bearer <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            self._throttle_unauthenticated(request)
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_for_key(key) if 0 < len(key) <= 100 else None
        if token is None:
            self._throttle_unauthenticated(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    @staticmethod
    def _throttle_unauthenticated(request) -> None:
        """Count a request without a valid token; raise ``Throttled`` (429) beyond the rate."""
        throttle = UnauthenticatedRateThrottle()
        if not throttle.allow_request(request, None):
            raise exceptions.Throttled(throttle.wait())

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Publish the token as the ``tokenAuth`` security scheme: HTTP bearer, so generated
    clients send ``Authorization: Bearer <key>``."""

    target_class = "oms.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "API token",
            "description": 'Send "Authorization: Bearer <key>" ("Token <key>" works too). Create '
                           "keys in the admin or with `manage.py create_api_token`. A revoked "
                           "key, or the key of a deactivated user, is refused from the next "
                           "request on.",
        }
