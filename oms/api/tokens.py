"""Create, find and scope integrators' API tokens (``oms.api.models.ApiToken``).

Keys are 40 URL-safe characters from ``secrets``; only their SHA-256 hex digest is stored,
so a database dump reveals no usable key. The key is returned once, at creation.

Every request reads its token and user from the database (one query on the unique key
hash, as DRF's ``TokenAuthentication`` does; a second one for a token limited to some stock
locations reads their ids), so a change to a token or its user (revoked with ``is_active``,
a new key, the read-only or all-locations flag, the user deactivated or deleted, the
stock-location list) applies to the next request in every process, however it was made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Model, Q, QuerySet
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


def api_token_for_key(key: str) -> ApiToken | None:
    """Return the active token whose key is ``key``, with its active user, or None.

    One query (token joined to its user, by the unique key hash), and one more for a token
    limited to some stock locations: their ids (``api_token_location_ids``), so that the
    queries of the request filter by a list rather than a subquery. Stamps ``last_used_at``
    when the stored one is over a minute old (one UPDATE, not one per request).
    """
    token = (ApiToken.objects.select_related("user")
             .filter(key_hash=api_token_hash(key), is_active=True, user__is_active=True).first())
    if token is None:
        return None
    api_token_location_ids(token)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_scope(queryset: QuerySet, token: ApiToken, *,
                    fields: Iterable[str] = ("location",)) -> QuerySet:
    """Return ``queryset`` narrowed to rows inside ``token``'s location scope.

    ``fields`` names the foreign keys to ``StockLocation`` on the queryset's model (``("pk",)``
    for a StockLocation queryset); a row is in scope when any of them is. The ids
    ``api_token_location_ids`` read with the token (a query if they were not).
    """
    if token.all_locations:
        return queryset
    scoped = sorted(api_token_location_ids(token))
    condition = Q()
    for field in fields:
        lookup = "pk__in" if field == "pk" else f"{field}_id__in"
        condition |= Q(**{lookup: scoped})
    return queryset.filter(condition)


def api_token_location_ids(token: ApiToken | None) -> frozenset[int] | None:
    """Return the ids of the stock locations in ``token``'s scope, or None for every location
    (an all-locations token, or no token: a caller that checked access otherwise). One query
    the first time for a token instance (one per request), kept on it as
    ``scope_location_ids``."""
    if token is None or token.all_locations:
        return None
    if getattr(token, "scope_location_ids", None) is None:
        through = ApiToken.locations.through
        token.scope_location_ids = frozenset(
            through.objects.filter(apitoken_id=token.pk).values_list("stocklocation_id", flat=True))
    return token.scope_location_ids


def api_token_sees_location(token: ApiToken, location: Model | None) -> bool:
    """Return True if ``location`` (a ``StockLocation``) is inside ``token``'s scope (False for
    None). 0–1 query."""
    if location is None:
        return False
    return token.all_locations or token.locations.filter(pk=location.pk).exists()
