"""Every change of stock quantities. All functions run inside the caller's transaction.

Lines are ``{sku_id: quantity}`` mappings with positive whole quantities. Rows are locked
in primary-key order (``SELECT … FOR UPDATE``) so concurrent callers touching the same SKUs
cannot deadlock, and every update is conditional in SQL as well, so the database
constraints (``stock_level_*``) are a second line of defence, never the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from rest_framework import serializers

from locations.models import Sku, StockLevel, StockLocation
from oms.actions.errors import InsufficientStock, InvalidInput, OmsError
from oms.bulk_sql import rows_update
from oms.events.outbox import event_publish, events_publish_many


@dataclass(frozen=True)
class Shortage:
    """A SKU a location cannot cover: ``needed`` units asked, ``available`` free."""

    sku: str
    needed: int
    available: int

    def as_dict(self) -> dict:
        return {"sku": self.sku, "needed": self.needed, "available": self.available}

    def __str__(self) -> str:
        return f"SKU {self.sku} needs {self.needed}, has {self.available}"


class StockInconsistency(OmsError):
    """Stock rows do not hold what a package is recorded to hold (a bug, or a manual edit)."""

    code = "stock_inconsistent"


def stock_rose(*, location_id: int, sku_ids) -> None:
    """Record that free stock of ``sku_ids`` rose at ``location_id``: an internal outbox event
    (``stock.level.raised``, in the caller's transaction) that the relay hands to the
    targeted re-check of the packages waiting on them (automatic rescheduling)."""
    event_publish(type="stock.level.raised", aggregate_type="stock_location",
                  aggregate_id=location_id,
                  payload={"location_id": location_id, "sku_ids": sorted(set(sku_ids))})


def _locked_levels(*, location_id: int, sku_ids) -> dict[int, StockLevel]:
    rows = (
        StockLevel.objects.select_for_update(of=("self",))
        .select_related("sku")
        .filter(location_id=location_id, sku_id__in=list(sku_ids))
        .order_by("pk")
    )
    return {row.sku_id: row for row in rows}


def _sku_codes(sku_ids) -> dict[int, str]:
    return dict(Sku.objects.filter(pk__in=list(sku_ids)).values_list("pk", "code"))


def stock_shortages(*, location_id: int, lines: Mapping[int, int], lock: bool = False) -> list[Shortage]:
    """Return what ``location_id`` cannot cover of ``lines`` (empty list: all available).

    With ``lock=True`` the stock rows stay locked until the caller's transaction ends.
    Shortages are sorted by SKU code.
    """
    if lock:
        levels = _locked_levels(location_id=location_id, sku_ids=lines.keys())
    else:
        levels = {
            row.sku_id: row
            for row in StockLevel.objects.select_related("sku").filter(
                location_id=location_id, sku_id__in=list(lines)
            )
        }
    missing_codes = _sku_codes(set(lines) - set(levels)) if set(lines) - set(levels) else {}
    shortages = []
    for sku_id, quantity in lines.items():
        row = levels.get(sku_id)
        available = row.available if row else 0
        if available < quantity:
            code = row.sku.code if row else missing_codes.get(sku_id, str(sku_id))
            shortages.append(Shortage(sku=code, needed=quantity, available=max(available, 0)))
    return sorted(shortages, key=lambda s: s.sku)


class StockLedger:
    """Stock rows locked once for a batch of actions, changed in memory, written set-based.

    ``levels``: the stock rows the batch may touch (a queryset); they are locked at once in
    primary-key order. ``reserve`` and ``pick`` change them in memory, all or nothing per
    call; ``save()`` writes the changed rows in one statement (``oms.bulk_sql.rows_update``)
    inside the caller's transaction. Quantities as ``stock_reserve`` / ``stock_pick``.
    """

    def __init__(self, levels: QuerySet[StockLevel]):
        self._rows = {(row.location_id, row.sku_id): row for row in
                      levels.select_for_update(of=("self",)).select_related("sku").order_by("pk")}
        self._changed: dict[int, StockLevel] = {}

    def reserve(self, location_id: int, lines: Mapping[int, int], *,
                codes: Mapping[int, str] | None = None) -> None:
        """Reserve every line, or raise InsufficientStock (``extra["shortages"]``, sorted by
        SKU code; ``codes`` names SKUs without a stock row) and change nothing."""
        shortages = []
        for sku_id, quantity in lines.items():
            row = self._rows.get((location_id, sku_id))
            available = row.available if row else 0
            if available < quantity:
                code = row.sku.code if row else (codes or {}).get(sku_id, str(sku_id))
                shortages.append(Shortage(sku=code, needed=quantity, available=max(available, 0)))
        if shortages:
            shortages.sort(key=lambda s: s.sku)
            raise InsufficientStock("Not enough stock: " + "; ".join(str(s) for s in shortages),
                                    shortages=[s.as_dict() for s in shortages])
        for sku_id, quantity in lines.items():
            self._change(location_id, sku_id, reserved=quantity)

    def pick(self, location_id: int, lines: Mapping[int, int]) -> None:
        """Turn reserved units into picked ones (they leave ``on_hand`` and ``reserved``), or
        raise StockInconsistency and change nothing."""
        for sku_id, quantity in lines.items():
            row = self._rows.get((location_id, sku_id))
            if row is None or row.reserved < quantity or row.on_hand < quantity:
                raise StockInconsistency(
                    f"Cannot pick {quantity} of SKU id {sku_id} at location id {location_id}", sku_id=sku_id)
        for sku_id, quantity in lines.items():
            self._change(location_id, sku_id, reserved=-quantity, on_hand=-quantity)

    def _change(self, location_id: int, sku_id: int, **deltas: int) -> None:
        row = self._rows[(location_id, sku_id)]
        for field, delta in deltas.items():
            setattr(row, field, getattr(row, field) + delta)
        self._changed[row.pk] = row

    def save(self) -> None:
        """Write the changed rows (one statement)."""
        rows = [self._changed[pk] for pk in sorted(self._changed)]
        now = timezone.now()
        for row in rows:
            row.updated_at = now
        rows_update(rows, ["on_hand", "reserved", "updated_at"])
        self._changed = {}


@transaction.atomic
def stock_reserve(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Reserve every line at ``location_id``, all or nothing.

    Raises:
        InsufficientStock: some line is not available; ``extra["shortages"]`` lists them and
            nothing was reserved.
    """
    shortages = stock_shortages(location_id=location_id, lines=lines, lock=True)
    if shortages:
        raise InsufficientStock(
            "Not enough stock: " + "; ".join(str(s) for s in shortages),
            shortages=[s.as_dict() for s in shortages],
        )
    for sku_id, quantity in sorted(lines.items()):
        updated = StockLevel.objects.filter(
            location_id=location_id, sku_id=sku_id, on_hand__gte=F("reserved") + quantity
        ).update(reserved=F("reserved") + quantity, updated_at=timezone.now())
        if updated != 1:  # only reachable without row locks (SQLite runs writers one at a time)
            raise InsufficientStock(f"Stock of SKU id {sku_id} changed while reserving")


def _apply(*, location_id: int, lines: Mapping[int, int], guard: tuple[str, ...],
           changes: dict[str, int], what: str) -> None:
    """Lock the rows, then for each line add ``sign * quantity`` to every field in
    ``changes``, provided every field in ``guard`` holds at least ``quantity``."""
    _locked_levels(location_id=location_id, sku_ids=lines.keys())
    for sku_id, quantity in sorted(lines.items()):
        qs = StockLevel.objects.filter(location_id=location_id, sku_id=sku_id)
        qs = qs.filter(**{f"{field}__gte": quantity for field in guard})
        values = {field: F(field) + sign * quantity for field, sign in changes.items()}
        values["updated_at"] = timezone.now()
        if qs.update(**values) != 1:
            raise StockInconsistency(
                f"Cannot {what} {quantity} of SKU id {sku_id} at location id {location_id}",
                sku_id=sku_id,
            )


@transaction.atomic
def stock_release(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Give back reserved units (cancel, refuse, replacement). Raises StockInconsistency.

    The freed units may serve waiting packages: records a stock rise (``stock_rose``)."""
    _apply(location_id=location_id, lines=lines, guard=("reserved",),
           changes={"reserved": -1}, what="release")
    stock_rose(location_id=location_id, sku_ids=lines.keys())


@transaction.atomic
def stock_pick(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Turn reserved units into picked ones: they leave ``on_hand`` and ``reserved``."""
    _apply(location_id=location_id, lines=lines, guard=("reserved",),
           changes={"reserved": -1, "on_hand": -1}, what="pick")


@transaction.atomic
def stock_write_off(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Remove units that are not there (Product Not Found) from unreserved ``on_hand``."""
    _lines_must_fit_unreserved(location_id=location_id, lines=lines)
    _apply(location_id=location_id, lines=lines, guard=("on_hand",),
           changes={"on_hand": -1}, what="write off")


@transaction.atomic
def stock_mark_damaged(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Move unreserved units from ``on_hand`` to ``damaged`` (Defective Product)."""
    _lines_must_fit_unreserved(location_id=location_id, lines=lines)
    _apply(location_id=location_id, lines=lines, guard=("on_hand",),
           changes={"on_hand": -1, "damaged": 1}, what="mark damaged")


def _lines_must_fit_unreserved(*, location_id: int, lines: Mapping[int, int]) -> None:
    shortages = stock_shortages(location_id=location_id, lines=lines, lock=True)
    if shortages:
        raise StockInconsistency(
            "Units to remove are promised elsewhere: " + "; ".join(str(s) for s in shortages),
            shortages=[s.as_dict() for s in shortages],
        )


@transaction.atomic
def stock_return(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Put picked units back on the shelf (``on_hand`` up), creating rows as needed; records
    a stock rise (``stock_rose``)."""
    existing = _locked_levels(location_id=location_id, sku_ids=lines.keys())
    for sku_id in sorted(set(lines) - set(existing)):
        StockLevel.objects.get_or_create(location_id=location_id, sku_id=sku_id)
    for sku_id, quantity in sorted(lines.items()):
        StockLevel.objects.filter(location_id=location_id, sku_id=sku_id).update(
            on_hand=F("on_hand") + quantity, updated_at=timezone.now()
        )
    stock_rose(location_id=location_id, sku_ids=lines.keys())


@transaction.atomic
def stock_level_set(*, location: StockLocation, sku: Sku, on_hand: int) -> StockLevel:
    """Set the on-hand quantity of ``sku`` at ``location`` (stock count, ERP sync); a rise
    is recorded (``stock_rose``).

    Returns the locked, updated row.
    Raises:
        InvalidInput: ``on_hand`` is negative or below what is reserved (field ``on_hand``).
    """
    level, rose = stock_level_set_quietly(location=location, sku=sku, on_hand=on_hand)
    if rose:
        stock_rose(location_id=location.pk, sku_ids=[sku.pk])
    return level


@transaction.atomic
def stock_level_set_quietly(*, location: StockLocation, sku: Sku, on_hand: int) -> tuple[StockLevel, bool]:
    """As ``stock_level_set`` but without recording the rise; return ``(level, rose)`` so
    that a caller setting many rows records one rise per location."""
    if on_hand < 0:
        raise InvalidInput("on_hand must be >= 0", field="on_hand")
    level, _ = StockLevel.objects.get_or_create(location=location, sku=sku)
    level = StockLevel.objects.select_for_update().get(pk=level.pk)
    if on_hand < level.reserved:
        raise InvalidInput(
            f"on_hand {on_hand} is below the {level.reserved} units reserved for open packages",
            field="on_hand",
        )
    rose = on_hand > level.on_hand
    level.on_hand = on_hand
    level.save(update_fields=["on_hand", "updated_at"])
    return level, rose


@transaction.atomic
def stock_reserve_available(*, location_id: int, lines: Mapping[int, int]) -> dict[int, int]:
    """Reserve as much of each line as ``location_id`` has free; return ``{sku_id: reserved}``.

    Used when the rest will come by transfer. Rows are locked in primary-key order; lines
    with nothing available are left out of the result.
    """
    levels = _locked_levels(location_id=location_id, sku_ids=lines.keys())
    reserved: dict[int, int] = {}
    for sku_id, quantity in sorted(lines.items()):
        row = levels.get(sku_id)
        take = min(quantity, row.available) if row else 0
        if take > 0:
            StockLevel.objects.filter(pk=row.pk).update(reserved=F("reserved") + take)
            reserved[sku_id] = take
    return reserved


@transaction.atomic
def stock_receive_reserved(*, location_id: int, lines: Mapping[int, int]) -> None:
    """Take in units that arrive already promised (a received transfer).

    ``on_hand`` and ``reserved`` both rise by each line's quantity, so the units are on the
    shelf but not available to anyone else. Rows missing at ``location_id`` are created.
    Existing rows are locked in primary-key order first, as everywhere in this module.
    """
    existing = _locked_levels(location_id=location_id, sku_ids=lines.keys())
    for sku_id in sorted(set(lines) - set(existing)):
        StockLevel.objects.get_or_create(location_id=location_id, sku_id=sku_id)
    for sku_id, quantity in sorted(lines.items()):
        StockLevel.objects.filter(location_id=location_id, sku_id=sku_id).update(
            on_hand=F("on_hand") + quantity, reserved=F("reserved") + quantity
        )


def stock_levels_locked(*, pairs) -> list[StockLevel]:
    """Lock and return the stock rows of ``pairs`` (``{(location_id, sku_id)}``), in
    primary-key order, in one query. Pairs without a row are absent. Call inside a
    transaction."""
    if not pairs:
        return []
    location_ids = {loc for loc, _ in pairs}
    sku_ids = {sku for _, sku in pairs}
    rows = (StockLevel.objects.select_for_update(of=("self",))
            .filter(location_id__in=location_ids, sku_id__in=sku_ids).order_by("pk"))
    return [row for row in rows if (row.location_id, row.sku_id) in pairs]


# --- capacity -------------------------------------------------------------------------------
# ``StockLocation.open_packages`` is kept by the database (packages.capacity); here a planner
# takes a slot: it locks the location row, after the stock rows it needs (lock order:
# packages, stock rows, locations), and checks there is room. The count rises when the
# package row becomes open, in the same transaction, so the next planner waiting on the
# lock sees it.

class LocationFull(OmsError):
    """The location holds as many open packages as its capacity allows (HTTP 409).

    ``extra``: ``location`` (code), ``open_packages``, ``max_open_packages``.
    """

    code = "location_full"


def location_full_error(*, code: str, open_packages: int, max_open_packages: int) -> LocationFull:
    return LocationFull(f"{code} is full: {open_packages} of {max_open_packages} open packages",
                        location=code, open_packages=open_packages, max_open_packages=max_open_packages)


def location_slot_take(*, location_id: int, closing: int = 0) -> None:
    """Make sure ``location_id`` may take one more open package, and keep it so until the
    caller's transaction ends: locks the location row if it has a maximum (1 query; a
    location without one is not locked). The caller then makes its package open in the same
    transaction, which counts it. ``closing``: open packages there that the caller closes
    in the same transaction (still counted now), e.g. the package being split.

    Raises ``LocationFull``.
    """
    row = (StockLocation.objects.select_for_update()
           .filter(pk=location_id, max_open_packages__isnull=False)
           .values_list("code", "open_packages", "max_open_packages").first())
    if row is not None and row[1] - closing >= row[2]:
        raise location_full_error(code=row[0], open_packages=row[1] - closing, max_open_packages=row[2])


class CapacityLedger:
    """Location slots for a batch of actions that open packages (``reschedule``): the rows of
    the locations with a maximum among ``location_ids`` are locked at once, in primary-key
    order; ``check`` and ``take`` count the batch's packages in memory. Nothing to save: the
    counter rises when the packages are written."""

    def __init__(self, location_ids):
        rows = (StockLocation.objects.select_for_update()
                .filter(pk__in=list(location_ids), max_open_packages__isnull=False).order_by("pk")
                .values_list("pk", "code", "open_packages", "max_open_packages"))
        self._rows = {pk: [code, used, maximum] for pk, code, used, maximum in rows}

    def check(self, location_id: int) -> None:
        """Raise ``LocationFull`` if ``location_id`` has no room left; change nothing."""
        row = self._rows.get(location_id)
        if row is not None and row[1] >= row[2]:
            raise location_full_error(code=row[0], open_packages=row[1], max_open_packages=row[2])

    def take(self, location_id: int) -> None:
        """``check``, then count one more open package at ``location_id``."""
        self.check(location_id)
        row = self._rows.get(location_id)
        if row is not None:
            row[1] += 1


STOCK_LOCATION_CREATED = "stock_location.created"
STOCK_LOCATION_UPDATED = "stock_location.updated"
# The public event types of stock locations (registered in LocationsConfig.ready).
STOCK_LOCATION_EVENT_TYPES = (STOCK_LOCATION_CREATED, STOCK_LOCATION_UPDATED)

LOCATION_EVENT_FIELDS = ("code", "name", "city", "region", "postcode", "time_zone", "kind",
                         "is_active", "can_package", "is_pickup_point")


STOCK_LOCATION_EVENT_TYPES = ["stock_location.created", "stock_location.updated"]


class StockLocationEventLocationSerializer(serializers.Serializer):
    """The stock location as saved."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField(allow_blank=True)
    region = serializers.CharField(allow_blank=True)
    postcode = serializers.CharField(allow_blank=True)
    time_zone = serializers.CharField(help_text="IANA time zone name, e.g. America/Sao_Paulo.")
    kind = serializers.ChoiceField(choices=StockLocation.Kind.choices)
    is_active = serializers.BooleanField()
    can_package = serializers.BooleanField()
    is_pickup_point = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)


class StockLocationEventPayloadSerializer(serializers.Serializer):
    """``stock_location_event_payload``: ``{"stock_location": {…}}`` (OpenAPI webhooks, feed)."""

    stock_location = StockLocationEventLocationSerializer()


def stock_location_event_payload(location: StockLocation) -> dict:
    """The JSON-safe payload of ``stock_location.*`` events: the location's fields."""
    fields = {name: getattr(location, name) for name in LOCATION_EVENT_FIELDS}
    updated_at = location.updated_at.isoformat() if location.updated_at else None
    return {"stock_location": {"id": location.pk, **fields, "updated_at": updated_at}}


@transaction.atomic
def stock_location_save(*, location: StockLocation, **changes) -> StockLocation:
    """Create or update a stock location and publish ``stock_location.created`` /
    ``stock_location.updated`` in the same transaction (admin, import, demo).

    ``changes`` are field values to set first. Raises ``django.core.exceptions.ValidationError``
    for invalid values (``full_clean``).
    """
    created = location.pk is None
    for name, value in changes.items():
        setattr(location, name, value)
    location.full_clean()
    location.save()
    event_publish(type=STOCK_LOCATION_CREATED if created else STOCK_LOCATION_UPDATED,
                  aggregate_type="stock_location", aggregate_id=location.pk,
                  payload=stock_location_event_payload(location))
    return location


def stock_locations_created(locations: list[StockLocation]) -> None:
    """Publish ``stock_location.created`` for locations just inserted in bulk (imports)."""
    events_publish_many([(STOCK_LOCATION_CREATED, "stock_location", location.pk,
                          stock_location_event_payload(location)) for location in locations],
                        instances=False)
