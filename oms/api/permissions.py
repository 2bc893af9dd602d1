"""REST API permissions and the request's actor."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from oms.actions.actors import Actor, user_actor
from oms.api.models import ApiToken


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


def require_all_locations(request) -> None:
    """Webhooks and the feed see every location's events: only a staff user's token that
    covers all locations may use them (an operator's token may not read others' secrets)."""
    if not (request.auth.all_locations and request.user.is_staff):
        raise PermissionDenied("Webhooks and the event feed need a staff user's token that "
                               "covers all locations.")
