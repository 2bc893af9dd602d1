"""What about transfers is not an action: planning and creating the transfers of a package,
the units its transfers still bring, and stopping them when the package no longer needs
them. The actions themselves are declared in ``transfers.actions`` and run by
``transfers.engine``.

Creation reserves the units at the source (``stock_reserve``); see ``transfers.actions``
for why ``ready_for_dispatch`` then moves no stock.

The package is passed in (or named by id) by the packages app; this module does not import
it (import contract: locations <- transfers <- packages).

Errors: ``InsufficientStock`` (409), ``InvalidInput`` (400).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import IntegrityError, models, transaction
from django.db.models import F, Sum

from locations import services as stock
from locations.models import Sku, StockLevel, StockLocation
from oms.actions.actors import Actor
from oms.actions.engine import Entry
from oms.actions.errors import InsufficientStock, InvalidInput, OmsError
from oms.actions.log import transition_record
from transfers.engine import transfer_act
from transfers.events import EVENT_PREFIX, TRANSFER_CREATED, transfer_event_payload
from transfers.models import OPEN_STATES, Status, Transfer, TransferItem, TransferTransition

# --- reads -------------------------------------------------------------------------------

def transfer_units_in_flight(*, package_id: int) -> dict[int, int]:
    """Return ``{sku_id: units}`` of the package's transfers not yet received nor cancelled.

    Counts transfers in Waiting, Ready To Shipment, In Transit and Cancellation Waiting
    (``OPEN_STATES``): units promised to the package that are not at its location. 1 query;
    SKUs with no such units are absent.
    """
    rows = (
        TransferItem.objects.filter(transfer__package_id=package_id, transfer__status__in=OPEN_STATES)
        .values("sku_id").annotate(units=Sum("quantity")).order_by()
    )
    return {row["sku_id"]: row["units"] for row in rows}


def transfer_placement_units(*, package: models.Model) -> tuple[dict[int, int], dict[int, int]]:
    """Return ``(in_flight, lost)`` for the package's current placement, each
    ``{sku_id: units}``.

    The current placement's transfers are those bringing units to ``package.location`` and
    created since ``package.placed_at``. ``in_flight``: units of those still open (not yet
    at the location); ``lost``: units of those Cancelled (they will never arrive). Units of
    Transferred ones are at the location, reserved for the package. 1 query.
    """
    rows = (
        TransferItem.objects.filter(
            transfer__package_id=package.pk, transfer__destination_id=package.location_id,
            transfer__created_at__gte=package.placed_at,
        ).exclude(transfer__status=Status.TRANSFERRED)
        .values_list("transfer__status", "sku_id").annotate(units=Sum("quantity")).order_by()
    )
    in_flight: dict[int, int] = {}
    lost: dict[int, int] = {}
    for status, sku_id, units in rows:
        target = lost if status == Status.CANCELLED else in_flight
        target[sku_id] = target.get(sku_id, 0) + units
    return in_flight, lost


# --- planning ----------------------------------------------------------------------------

def _validate_lines(lines: Mapping[int, int]) -> None:
    for sku_id, quantity in lines.items():
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise InvalidInput(f"Quantity of SKU id {sku_id} must be a whole number >= 1",
                               field="lines")


def transfer_plan(*, destination_id: int, lines: Mapping[int, int],
                  exclude_location_ids: Iterable[int] = ()) -> dict[int, dict[int, int]] | None:
    """Choose the source locations that can send ``lines`` to ``destination_id``.

    ``lines`` is ``{sku_id: units}`` still missing at the destination (each >= 1).
    Candidates are active stock locations other than the destination and
    ``exclude_location_ids``, with available stock (``on_hand - reserved``) of a missing SKU.
    Sources are chosen greedily, one at a time, best first by:

    1. in the destination's region (a blank region matches nothing);
    2. covers the most of what is still missing: whole lines covered, then units covered
       (so the fewest transfers);
    3. has the most available units of the missing SKUs; then the lowest location id
       (deterministic).

    Each chosen source sends ``min(available, still missing)`` of every missing SKU, so a SKU
    is split across sources when no single one has enough. Note the region rule comes
    first: a same-region source holding part of a line is used even when another region
    could send the whole line alone.

    Reads only, locks nothing (``transfers_create_for_package`` reserves under lock and
    fails if the stock went meanwhile). 2 queries.

    Returns ``{source_location_id: {sku_id: units}}`` whose sums equal ``lines`` exactly
    (``{}`` for empty ``lines``), or ``None`` when the candidates together cannot cover it.
    Raises ``InvalidInput`` for a quantity that is not a whole number >= 1.
    """
    _validate_lines(lines)
    missing = dict(lines)
    if not missing:
        return {}
    region = (
        StockLocation.objects.filter(pk=destination_id).values_list("region", flat=True).first()
        or ""
    )
    rows = (
        StockLevel.objects.filter(
            sku_id__in=list(missing), location__is_active=True, on_hand__gt=F("reserved")
        )
        .exclude(location_id=destination_id)
        .exclude(location_id__in=list(exclude_location_ids))
        .values_list("location_id", "location__region", "sku_id", "on_hand", "reserved")
    )
    available: dict[int, dict[int, int]] = {}
    same_region: dict[int, bool] = {}
    totals: dict[int, int] = {}
    for location_id, location_region, sku_id, on_hand, reserved in rows:
        available.setdefault(location_id, {})[sku_id] = on_hand - reserved
        same_region[location_id] = bool(region) and location_region == region
        totals[sku_id] = totals.get(sku_id, 0) + on_hand - reserved
    if any(totals.get(sku_id, 0) < quantity for sku_id, quantity in missing.items()):
        return None

    def score(location_id: int) -> tuple:
        stock_here = available[location_id]
        lines_covered = units_covered = units_held = 0
        for sku_id, quantity in missing.items():
            units = stock_here.get(sku_id, 0)
            lines_covered += units >= quantity
            units_covered += min(units, quantity)
            units_held += units
        return (same_region[location_id], lines_covered, units_covered, units_held, -location_id)

    plan: dict[int, dict[int, int]] = {}
    candidates = set(available)
    while missing:
        best = max(candidates, key=score)  # totals checked above: best always covers something
        candidates.discard(best)
        taken = {}
        for sku_id, quantity in list(missing.items()):
            units = min(available[best].get(sku_id, 0), quantity)
            if units:
                taken[sku_id] = units
                if units == quantity:
                    del missing[sku_id]
                else:
                    missing[sku_id] = quantity - units
        plan[best] = taken
    return plan



def _record_created(transfer: Transfer, *, actor: Actor) -> Transfer:
    """Write the ``create`` log row and the ``transfer.status.created`` outbox event."""
    return transition_record(
        transfer, log_model=TransferTransition, log_fk="transfer", action="create",
        from_status=None, actor=actor, event_prefix=EVENT_PREFIX,
        event_payload=transfer_event_payload, created_event=TRANSFER_CREATED)


# --- creation ----------------------------------------------------------------------------

def _next_number(package: models.Model) -> str:
    n = Transfer.objects.filter(package=package).count() + 1
    while Transfer.objects.filter(number=f"{package.number}-T{n}").exists():
        n += 1
    return f"{package.number}-T{n}"


def _shortages(destination_id: int, lines: Mapping[int, int],
               exclude_location_ids: Iterable[int]) -> list[dict]:
    """What all candidate sources together lack, as ``{"sku", "needed", "available"}``."""
    rows = (
        StockLevel.objects.filter(sku_id__in=list(lines), location__is_active=True,
                                  on_hand__gt=F("reserved"))
        .exclude(location_id=destination_id)
        .exclude(location_id__in=list(exclude_location_ids))
        .values_list("sku_id", "on_hand", "reserved")
    )
    totals: dict[int, int] = {}
    for sku_id, on_hand, reserved in rows:
        totals[sku_id] = totals.get(sku_id, 0) + on_hand - reserved
    codes = dict(Sku.objects.filter(pk__in=list(lines)).values_list("pk", "code"))
    return sorted(
        ({"sku": codes.get(sku_id, str(sku_id)), "needed": quantity,
          "available": totals.get(sku_id, 0)}
         for sku_id, quantity in lines.items() if totals.get(sku_id, 0) < quantity),
        key=lambda s: s["sku"],
    )


# A planned source's stock can be taken between planning (no locks) and reserving: re-plan
# this many times before giving up.
PLAN_ATTEMPTS = 3


def _create_planned(package: models.Model, plan: Mapping[int, Mapping[int, int]],
                    actor: Actor) -> list[Transfer]:
    transfers = []
    for source_id, source_lines in sorted(plan.items()):
        stock.stock_reserve(location_id=source_id, lines=source_lines)
        transfer = None
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    transfer = Transfer.objects.create(
                        number=_next_number(package), package=package, source_id=source_id,
                        destination_id=package.location_id, status=Status.WAITING,
                    )
                break
            except IntegrityError:
                continue
        if transfer is None:
            raise OmsError("Could not allocate a transfer number", code="number_conflict")
        TransferItem.objects.bulk_create(
            TransferItem(transfer=transfer, sku_id=sku_id, quantity=quantity)
            for sku_id, quantity in sorted(source_lines.items())
        )
        transfer = Transfer.objects.select_related("package", "source", "destination").get(
            pk=transfer.pk)
        transfers.append(_record_created(transfer, actor=actor))
    return transfers


@transaction.atomic
def transfers_create_for_package(*, package: models.Model, lines: Mapping[int, int], actor: Actor,
                                 exclude_location_ids: Iterable[int] = ()) -> list[Transfer]:
    """Create the transfers that bring ``lines`` to ``package.location`` (Waiting).

    ``lines`` is ``{sku_id: units}`` missing at the package's location (each >= 1). Plans
    with ``transfer_plan`` (destination ``package.location_id`` as set on the object passed
    in, so a caller re-planning to a new location may pass the unsaved assignment), then per
    source, in location id order: reserves the units at the source (``stock_reserve``, rows
    locked in primary-key order), creates the Transfer ``"<package number>-T<n>"`` and its
    items, a ``create`` log row and a ``transfer.status.created`` event (handed on after
    commit). If a planned source's stock was taken meanwhile, that attempt is rolled back
    (savepoint) and the plan made again, up to ``PLAN_ATTEMPTS`` times. Does not lock or
    change the package: callers (package actions) hold its lock.

    Returns the new transfers in creation order (``[]`` for empty ``lines``).
    Raises:
        InsufficientStock: no plan covers ``lines`` (``extra["shortages"]`` lists what all
            sources together lack), or the stock kept vanishing for every attempt. Nothing
            of this call is left written.
        InvalidInput: a quantity is not a whole number >= 1.
    """
    exclude_location_ids = list(exclude_location_ids)
    attempts = 0
    while True:
        attempts += 1
        plan = transfer_plan(destination_id=package.location_id, lines=lines,
                             exclude_location_ids=exclude_location_ids)
        if plan is None:
            shortages = _shortages(package.location_id, lines, exclude_location_ids)
            raise InsufficientStock(
                "No stock locations can send: " + "; ".join(
                    f"SKU {s['sku']} needs {s['needed']}, has {s['available']}" for s in shortages),
                shortages=shortages,
            )
        try:
            with transaction.atomic():
                return _create_planned(package, plan, actor)
        except InsufficientStock:
            if attempts >= PLAN_ATTEMPTS:
                raise


# --- stopping a package's transfers -----------------------------------------------------

@transaction.atomic
def transfers_cancel_open_for_package(*, package_id: int, actor: Actor, reason: str = "") -> None:
    """Stop every transfer still bringing units to the package, through the engine.

    Waiting transfers are cancelled (``cancel``: source reservation released); Ready To
    Shipment and In Transit ones get a cancellation request (``request_cancellation``);
    Transferred, Cancellation Waiting and Cancelled ones are left alone. Locks the package,
    then the transfers in id order. The package hooks are not run: callers (package
    actions) have already moved the package out of Pending Transfer or are doing so.
    Raises the first refusal (nothing of this call is then kept).
    """
    package_model = Transfer._meta.get_field("package").related_model
    list(package_model.objects.select_for_update().filter(pk=package_id).values_list("pk", flat=True))
    transfers = list(
        Transfer.objects.select_for_update().filter(package_id=package_id).order_by("pk")
        .values_list("pk", "status")
    )
    waiting = [pk for pk, status in transfers if status == Status.WAITING]
    moving = [pk for pk, status in transfers if status in (Status.READY_TO_SHIPMENT, Status.IN_TRANSIT)]
    outcomes = []
    if waiting:
        outcomes += transfer_act("cancel", [Entry(pk, {"reason": reason, "tell_package": False})
                                            for pk in waiting], actor=actor)
    if moving:
        outcomes += transfer_act("request_cancellation", [Entry(pk, {"reason": reason}) for pk in moving],
                                 actor=actor)
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
