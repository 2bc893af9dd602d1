"""Create, find and scope integrators' API tokens (``oms.api.models.ApiToken``).

Keys are 40 URL-safe characters from ``secrets``; only their SHA-256 hex digest is stored,
so a database dump reveals no usable key. The key is returned once, at creation.

Each server process remembers the tokens it authenticated for ``API_TOKEN_CACHE_SECONDS``
(settings, default 30 s; 0 turns it off), so a request does not read its token and user
again. The price is a delay: a change to a token or its user (revoked with ``is_active``,
a new key, the read-only or all-locations flag, the user deactivated, renamed or deleted)
applies at once in the process where it is saved (the cache is cleared on every save and
delete of a token or user) and within that many seconds in the others; a change made
without ``save()`` (``QuerySet.update``, SQL) applies within that many seconds everywhere.
The token's stock-location list is not cached: it applies at once.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from oms.actions.errors import InvalidInput
from oms.api.models import ApiToken

# ``last_used_at`` is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def api_token_hash(key: str) -> str:
    """Return the SHA-256 hex digest stored for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_token_generate_key() -> str:
    """Return a new random key: 40 URL-safe characters (240 bits)."""
    return secrets.token_urlsafe(30)


@transaction.atomic
def api_token_create(*, user, name: str, location_codes: Iterable[str] | None = None,
                     read_only: bool = False) -> tuple[ApiToken, str]:
    """Create a token for ``user`` and return ``(token, key)``; the key is not stored.

    ``location_codes``: the stock locations the token may see and act on; ``None`` means
    every location. Raises ``InvalidInput`` (field ``locations``) for an unknown code or an
    empty list, and (field ``name``) for a blank name.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A token needs a name", field="name")
    locations: list[Model] = []
    if location_codes is not None:
        codes = sorted({code.strip() for code in location_codes if code.strip()})
        if not codes:
            raise InvalidInput("Name at least one stock location, or none for all", field="locations")
        # the stock location model through the token's relation: oms does not import locations
        stock_location = ApiToken.locations.field.related_model
        locations = list(stock_location.objects.filter(code__in=codes))
        unknown = sorted(set(codes) - {loc.code for loc in locations})
        if unknown:
            raise InvalidInput(f"Unknown stock location(s): {', '.join(unknown)}", field="locations")
    key = api_token_generate_key()
    token = ApiToken.objects.create(
        user=user, name=name[:100], key_prefix=key[:8], key_hash=api_token_hash(key),
        all_locations=location_codes is None, is_read_only=read_only,
    )
    token.locations.set(locations)
    return token, key


def api_token_assign_new_key(token: ApiToken, *, save: bool = True) -> str:
    """Give ``token`` a fresh key (the old one stops working) and return it.

    Saves ``key_prefix``/``key_hash`` unless ``save`` is false (a token about to be created).
    """
    key = api_token_generate_key()
    token.key_prefix, token.key_hash = key[:8], api_token_hash(key)
    if save:
        token.save(update_fields=["key_prefix", "key_hash"])
    return key


@dataclass
class _Cached:
    """A token authenticated by this process: the loaded ``ApiToken`` (with its user) to copy
    per request, until ``expires_at`` (``time.monotonic()`` seconds)."""

    token: ApiToken
    expires_at: float


# Authenticated tokens by key hash (see the module doc); bounded, cleared when full.
_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()
_CACHE_MAX_TOKENS = 1000


def api_token_cache_clear() -> None:
    """Forget every token this process remembers (the next request of each reads it again)."""
    with _cache_lock:
        _cache.clear()


def _copy(token: ApiToken) -> ApiToken:
    """Return a copy of ``token`` and of its user, so no request shares an instance."""
    copied = copy.copy(token)
    copied.user = copy.copy(token.user)
    return copied


def api_token_for_key(key: str) -> ApiToken | None:
    """Return the active token whose key is ``key`` (with its user), or None.

    The token, its user and its stock locations are read once per ``API_TOKEN_CACHE_SECONDS``
    in each process (2 queries, none while remembered; a revoked token or inactive user is None). Stamps
    ``last_used_at`` at most once a minute per token and process (one UPDATE, never on every
    request); a fresh read sees other processes' stamps.
    """
    key_hash = api_token_hash(key)
    ttl_seconds = settings.API_TOKEN_CACHE_SECONDS
    now_monotonic = time.monotonic()
    cached = _cache.get(key_hash)
    if cached is None or cached.expires_at <= now_monotonic:
        token = (ApiToken.objects.select_related("user")
                 .filter(key_hash=key_hash, is_active=True).first())
        if token is None or not token.user.is_active:
            with _cache_lock:
                _cache.pop(key_hash, None)
            return None
        if not token.all_locations:
            token.scope_location_ids = sorted(
                ApiToken.locations.through.objects.filter(apitoken_id=token.pk)
                .values_list("stocklocation_id", flat=True))
        cached = _Cached(token=token, expires_at=now_monotonic + ttl_seconds)
        if ttl_seconds > 0:
            with _cache_lock:
                if len(_cache) >= _CACHE_MAX_TOKENS:
                    _cache.clear()
                _cache[key_hash] = cached
    now = timezone.now()
    last_used_at = cached.token.last_used_at
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        cached.token.last_used_at = now  # first, so that concurrent requests do not stamp too
        ApiToken.objects.filter(pk=cached.token.pk).update(last_used_at=now)
    return _copy(cached.token)


@receiver(m2m_changed, sender=ApiToken.locations.through, dispatch_uid="api_token_cache_scope_changed")
@receiver(post_save, sender=ApiToken, dispatch_uid="api_token_cache_token_saved")
@receiver(post_delete, sender=ApiToken, dispatch_uid="api_token_cache_token_deleted")
def _forget_tokens_on_token_change(**kwargs) -> None:
    api_token_cache_clear()


@receiver(post_save, sender=get_user_model(), dispatch_uid="api_token_cache_user_saved")
@receiver(post_delete, sender=get_user_model(), dispatch_uid="api_token_cache_user_deleted")
def _forget_tokens_on_user_change(**kwargs) -> None:
    api_token_cache_clear()


def api_token_scope(queryset: QuerySet, token: ApiToken, *,
                    fields: Iterable[str] = ("location",)) -> QuerySet:
    """Return ``queryset`` narrowed to rows inside ``token``'s location scope.

    ``fields`` names the foreign keys to ``StockLocation`` on the queryset's model (``("pk",)``
    for a StockLocation queryset); a row is in scope when any of them is. No extra query: the
    stock locations ``api_token_for_key`` read with the token, else one subquery.
    """
    if token.all_locations:
        return queryset
    scoped = getattr(token, "scope_location_ids", None)
    if scoped is None:
        scoped = ApiToken.locations.through.objects.filter(apitoken_id=token.pk).values("stocklocation_id")
    condition = Q()
    for field in fields:
        lookup = "pk__in" if field == "pk" else f"{field}_id__in"
        condition |= Q(**{lookup: scoped})
    return queryset.filter(condition)


def api_token_location_ids(token: ApiToken | None) -> frozenset[int] | None:
    """Return the ids of the stock locations in ``token``'s scope, or None for every location
    (an all-locations token, or no token: a caller that checked access otherwise). 0–1 query."""
    if token is None or token.all_locations:
        return None
    through = ApiToken.locations.through
    return frozenset(through.objects.filter(apitoken_id=token.pk).values_list("stocklocation_id", flat=True))


def api_token_sees_location(token: ApiToken, location: Model | None) -> bool:
    """Return True if ``location`` (a ``StockLocation``) is inside ``token``'s scope (False for
    None). 0–1 query."""
    if location is None:
        return False
    return token.all_locations or token.locations.filter(pk=location.pk).exists()
