"""Reads about stock locations, and the one rule of who sees which location.

Visibility (operator web UI): a staff user sees every stock location; any other user sees
only the locations they are assigned to (``OperatorAssignment``); an anonymous or inactive
user sees none. Every page and every POST of the web UI goes through the helpers below
(``locations_restrict`` for querysets, ``location_is_visible`` for one row), so the rule
lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from locations.models import OperatorAssignment, StockLevel, StockLocation


def user_sees_all_locations(user) -> bool:
    """Return True for an active staff user or superuser (they see every location)."""
    return bool(getattr(user, "is_active", False) and (user.is_staff or user.is_superuser))


def _assigned_location_ids(user) -> QuerySet:
    """Return a subquery of the location ids ``user`` is assigned to (not evaluated)."""
    return OperatorAssignment.objects.filter(user_id=user.pk).values("location_id")


def locations_restrict(queryset: QuerySet, *, user, fields: Iterable[str] = ("location",)) -> QuerySet:
    """Return ``queryset`` narrowed to rows ``user`` may see.

    ``fields`` names the foreign keys to a ``StockLocation`` on the queryset's model (e.g.
    ``("source", "destination")`` for transfers; use ``("pk",)`` for a StockLocation
    queryset itself); a row is visible when any of them points to a visible location. Adds
    a subquery, never an extra query. Anonymous and inactive users get an empty queryset.
    """
    if user_sees_all_locations(user):
        return queryset
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    assigned = _assigned_location_ids(user)
    condition = Q()
    for field in fields:
        lookup = "pk__in" if field == "pk" else f"{field}_id__in"
        condition |= Q(**{lookup: assigned})
    return queryset.filter(condition)


def location_is_visible(*, user, location_id: int) -> bool:
    """Return True if ``user`` may see stock location ``location_id`` (0 or 1 query)."""
    if user_sees_all_locations(user):
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return OperatorAssignment.objects.filter(user_id=user.pk, location_id=location_id).exists()


def visible_location_ids(*, user) -> set[int] | None:
    """Return the ids of the locations ``user`` may see, or None meaning "all" (0 or 1 query).

    For pages that decide per row whether to link (e.g. the other packages of an order).
    """
    if user_sees_all_locations(user):
        return None
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    return set(_assigned_location_ids(user).values_list("location_id", flat=True))


def stock_location_list(*, user) -> QuerySet[StockLocation]:
    """Return the stock locations ``user`` may see, ordered by code."""
    return locations_restrict(StockLocation.objects.all(), user=user, fields=("pk",)).order_by("code")


def stock_location_get(*, user, code: str) -> StockLocation:
    """Return the location ``code`` if ``user`` may see it (1 query).

    Raises ``StockLocation.DoesNotExist`` for an unknown code and for a location the user
    may not see alike, so a page answers 404 without telling which.
    """
    return stock_location_list(user=user).get(code=code)


def stock_levels_for_skus(*, location_id: int, sku_ids: Iterable[int]) -> dict[int, StockLevel]:
    """Return ``{sku_id: StockLevel}`` at ``location_id`` for ``sku_ids`` (1 query).

    SKUs without a stock row at the location are absent from the result.
    """
    sku_ids = list(sku_ids)
    if not sku_ids:
        return {}
    return {level.sku_id: level
            for level in StockLevel.objects.filter(location_id=location_id, sku_id__in=sku_ids)}
