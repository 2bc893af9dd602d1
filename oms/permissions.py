"""REST API permissions and the request's actor."""

from __future__ import annotations

from rest_framework import permissions

from oms.actors import Actor, user_actor
from oms.models import ApiToken


class IsApiClient(permissions.BasePermission):
    """Allow requests authenticated with an ``ApiToken`` (else 401)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken)


class TokenCanWrite(permissions.BasePermission):
    """Refuse any non-read method (POST, PUT, PATCH, DELETE) to a read-only token (403)."""

    message = "This API token is read-only."
    code = "read_only_token"

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return isinstance(request.auth, ApiToken) and not request.auth.is_read_only


def api_actor(request) -> Actor:
    """Return the actor of an API request: its token's user, kind ``"api"``."""
    return user_actor(request.auth.user, kind="api")
