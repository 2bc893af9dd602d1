"""Reads about transfers for the operator web UI. No writes here.

Visibility follows ``locations.selectors``: an operator sees a transfer when its source or
its destination is one of their locations; staff see every transfer. Incoming means the
location is the destination, outgoing that it is the source.
"""

from __future__ import annotations

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from locations.models import StockLocation
from locations.selectors import locations_restrict, stock_location_list
from transfers.models import OPEN_STATES, Status, Transfer, TransferItem, TransferTransition

DIRECTIONS: dict[str, str] = {"incoming": "destination", "outgoing": "source"}
DIRECTION_LABELS = {"incoming": _("Incoming"), "outgoing": _("Outgoing")}

# Card orders of the Transfer Location Movements dashboard (ties broken by code).
TRANSFER_MOVEMENT_SORTS: dict[str, tuple[str, tuple]] = {
    "open": (_("Most open transfers first"), ("-open_total", "code")),
    "incoming": (_("Most incoming open first"), ("-incoming_open", "-open_total", "code")),
    "outgoing": (_("Most outgoing open first"), ("-outgoing_open", "-open_total", "code")),
    "code": (_("Location code"), ("code",)),
    "name": (_("Location name"), ("name", "code")),
}

TRANSFER_SORTS: dict[str, tuple[str, tuple]] = {
    "in_state": (_("Longest in state first"), ("status_changed_at", "pk")),
    "recent": (_("Most recently changed first"), ("-status_changed_at", "-pk")),
    "number": (_("Transfer number"), ("number",)),
}


def count_field(direction: str, status: str) -> str:
    """Return the annotation name of a card count, e.g. ``"incoming_in_transit"``."""
    return f"{direction}_{status}"


def transfer_list_for_user(*, user) -> QuerySet[Transfer]:
    """Return the transfers ``user`` may see, with package, source and destination joined."""
    return locations_restrict(
        Transfer.objects.select_related("package", "source", "destination"),
        user=user, fields=("source", "destination"),
    )


def transfer_get_for_user(*, user, number: str) -> Transfer:
    """Return the transfer ``number`` with items (+SKU) and transition log prefetched, if
    ``user`` may see its source or destination. 3 queries.

    Raises ``Transfer.DoesNotExist`` for an unknown number and an invisible transfer alike.
    """
    return (
        transfer_list_for_user(user=user)
        .prefetch_related("items__sku", "transitions")
        .get(number=number)
    )


def _count(direction: str, status: str) -> Coalesce:
    field = DIRECTIONS[direction]
    counted = (Transfer.objects.filter(**{field: OuterRef("pk")}, status=status).order_by()
               .values(field).annotate(n=Count("*")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def transfer_location_movements(*, user, q: str = "", sort: str = "open",
                                include_empty: bool = False) -> QuerySet[StockLocation]:
    """Return the Transfer Location Movements cards: visible stock locations annotated with
    one count per direction and transfer state (``incoming_waiting`` … ``outgoing_cancelled``,
    see ``count_field``), plus ``incoming_open``, ``outgoing_open`` and ``open_total``
    (transfers in Waiting, Ready To Shipment, In Transit or Cancellation Waiting).

    ``q`` searches code, name, city (contains) and region (exact); ``sort`` is a key of
    ``TRANSFER_MOVEMENT_SORTS``. Locations that never sent nor received a transfer are left
    out unless ``include_empty``. Each count is a correlated subquery on the
    ``(source, status)`` / ``(destination, status)`` indexes, so a page is one query.
    """
    locations = stock_location_list(user=user)
    q = (q or "").strip()
    if q:
        locations = locations.filter(Q(code__icontains=q) | Q(name__icontains=q)
                                     | Q(city__icontains=q) | Q(region__iexact=q))
    if not include_empty:
        locations = locations.filter(
            Exists(Transfer.objects.filter(source=OuterRef("pk")))
            | Exists(Transfer.objects.filter(destination=OuterRef("pk")))
        )
    counts = {count_field(direction, status): _count(direction, status)
              for direction in DIRECTIONS for status in Status.values}
    locations = locations.annotate(**counts)
    open_sums = {}
    for direction in DIRECTIONS:
        total = Value(0)
        for status in Status.values:
            if status in OPEN_STATES:
                total = total + counts[count_field(direction, status)]
        open_sums[f"{direction}_open"] = total
    ordering = TRANSFER_MOVEMENT_SORTS.get(sort, TRANSFER_MOVEMENT_SORTS["open"])[1]
    return (locations.annotate(**open_sums)
            .annotate(open_total=open_sums["incoming_open"] + open_sums["outgoing_open"])
            .order_by(*ordering))


def transfer_counts_by_direction(*, location_id: int) -> dict[str, dict[str, int]]:
    """Return ``{"incoming": {status: n}, "outgoing": {status: n}}`` for one location, every
    one of the 6 states present (zeros included). 1 query."""
    rows = (
        Transfer.objects.filter(Q(source_id=location_id) | Q(destination_id=location_id))
        .annotate(direction=Case(When(source_id=location_id, then=Value("outgoing")),
                                 default=Value("incoming")))
        .values_list("direction", "status").annotate(n=Count("*")).order_by()
    )
    result = {direction: dict.fromkeys(Status.values, 0) for direction in DIRECTIONS}
    for direction, status, n in rows:
        result[direction][status] = n
    return result


def transfer_search(*, user, location_id: int | None = None, direction: str | None = None,
                    status: str | None = None, q: str = "", sort: str = "in_state") -> QuerySet[Transfer]:
    """Return the transfers of the transfer list: visible to ``user``; at ``location_id``
    as destination (``direction="incoming"``), as source (``"outgoing"``) or either
    (None); in ``status`` (a slug) if given; matching ``q`` on the transfer number, package
    number, tracking number or an item's SKU code (contains). Ordered by ``sort`` (a key of
    ``TRANSFER_SORTS``). Rows carry package, source and destination, and ``item_count``."""
    qs = transfer_list_for_user(user=user)
    if location_id is not None:
        if direction in DIRECTIONS:
            qs = qs.filter(**{f"{DIRECTIONS[direction]}_id": location_id})
        else:
            qs = qs.filter(Q(source_id=location_id) | Q(destination_id=location_id))
    if status:
        qs = qs.filter(status=status)
    q = (q or "").strip()
    if q:
        sku_match = TransferItem.objects.filter(transfer=OuterRef("pk"), sku__code__icontains=q)
        qs = qs.filter(Q(number__icontains=q) | Q(package__number__icontains=q)
                       | Q(tracking_number__icontains=q) | Exists(sku_match))
    item_count = (TransferItem.objects.filter(transfer=OuterRef("pk")).order_by()
             .values("transfer").annotate(n=Count("*")).values("n"))
    ordering = TRANSFER_SORTS.get(sort, TRANSFER_SORTS["in_state"])[1]
    return (qs.annotate(item_count=Coalesce(Subquery(item_count, output_field=IntegerField()), 0))
            .order_by(*ordering))


def transfer_list_for_package(*, package_id: int) -> list[Transfer]:
    """Return every transfer of a package, oldest first, with source and items (+SKU). 2 queries."""
    return list(
        Transfer.objects.filter(package_id=package_id).select_related("source", "destination")
        .prefetch_related("items__sku").order_by("pk")
    )


def transfer_transitions(transfer: Transfer) -> list[TransferTransition]:
    """Return the transfer's transition log, oldest first (prefetched by ``transfer_get_for_user``)."""
    return sorted(transfer.transitions.all(), key=lambda t: t.pk)
