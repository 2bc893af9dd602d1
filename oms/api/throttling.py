"""API rate limits (DRF throttles) and the client address the login lockout also uses.

* ``TokenRateThrottle``: ``API_THROTTLE_RATE`` requests per API token (settings; default
  1200/minute), on every endpoint that takes a token.
* ``UnauthenticatedRateThrottle``: ``API_UNAUTHENTICATED_THROTTLE_RATE`` requests without a
  valid token (no ``Authorization`` header, a malformed one, an unknown or revoked key) per
  client address (default 60/minute); checked by ``ApiTokenAuthentication`` before it answers
  401, so guessing keys is slowed down too.

Beyond its rate a request is refused with 429 ``{"code": "throttled", "detail": …,
"retry_after_seconds": n}`` and ``Retry-After: n`` (``oms.api.errors``). Counts live in
Django's default cache (``CACHES``: Redis, or files in ``var/cache``), shared by the
processes. A cache that fails (Redis down or hung past ``CACHE_SOCKET_TIMEOUT_SECONDS``) does
not fail the request: the throttle lets it through, logs a warning, and leaves the cache
alone for ``CACHE_RETRY_AFTER_SECONDS`` in that process, so an outage costs at most one
timeout per process per pause.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)

# After a cache failure, this process stops asking the cache for so many seconds.
CACHE_RETRY_AFTER_SECONDS = 5.0

_cache_down_until = 0.0
_cache_down_lock = threading.Lock()


def client_address(request) -> str:
    """Return the client's IP address as text.

    ``REMOTE_ADDR`` (the connection's peer), unless ``OMS_TRUSTED_PROXY_COUNT`` (settings,
    DRF's ``NUM_PROXIES``) is n > 0: then the n-th address from the right of
    ``X-Forwarded-For``, the one the outermost trusted proxy saw (addresses further left were
    written by the client and are ignored). Used by the API throttles and, as
    ``AXES_CLIENT_IP_CALLABLE``, by the login lockout.
    """
    return BaseThrottle().get_ident(request)


class FailOpenRateThrottle(SimpleRateThrottle):
    """A ``SimpleRateThrottle`` whose rate is the Django setting ``rate_setting`` (read per
    request: ``None`` means no limit) and that allows the request when the cache fails."""

    rate_setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting)

    def allow_request(self, request, view) -> bool:
        global _cache_down_until
        if self.rate is None or time.monotonic() < _cache_down_until:
            return True
        try:
            return super().allow_request(request, view)
        except Exception:
            with _cache_down_lock:
                _cache_down_until = time.monotonic() + CACHE_RETRY_AFTER_SECONDS
            logger.warning("API rate limit not applied: the cache failed; requests pass "
                           "unthrottled for %s s in this process", CACHE_RETRY_AFTER_SECONDS,
                           exc_info=True)
            return True

    def get_ident(self, request) -> str:
        return client_address(request)


class TokenRateThrottle(FailOpenRateThrottle):
    """``API_THROTTLE_RATE`` requests per API token (``request.auth``); requests without a
    token are not counted here."""

    scope = "token"
    rate_setting = "API_THROTTLE_RATE"

    def get_cache_key(self, request, view) -> str | None:
        token = request.auth
        if token is None or getattr(token, "pk", None) is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class UnauthenticatedRateThrottle(FailOpenRateThrottle):
    """``API_UNAUTHENTICATED_THROTTLE_RATE`` requests without a valid token per client address.

    Called from authentication, so it must not read ``request.user``."""

    scope = "unauthenticated"
    rate_setting = "API_UNAUTHENTICATED_THROTTLE_RATE"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
