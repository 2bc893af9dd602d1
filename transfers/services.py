"""Every state change of a transfer: one function per action, one transaction each.

Each action service (state-machine.md, "Transfer states (6) and actions"):

1. locks the rows it needs (the package first when the action can move the package, then
   the transfer row; ``SELECT … FOR UPDATE``) and checks, under the lock, that the current
   state allows the action (else ``ActionNotAllowed``, nothing written);
2. applies the stock effect through ``locations.services`` and runs the django-fsm
   transition;
3. saves with ``update_fields``, bumps ``version``, writes one ``TransferTransition`` row and
   one ``transfer.status.transitioned`` outbox event (handed on only after commit);
4. runs the package hooks: ``receive`` may complete the package's transfers
   (``package_transfers_arrived``), a transfer becoming Cancelled while its package is in
   Pending Transfer loses the package (``package_transfer_lost``).

Stock, by action (the table's "stock effect" column, with one decision of ours): the units
are **reserved at the source when the transfer is created**, not at ``ready_for_dispatch``.
Planning picks sources by their available stock; reserving at once means two packages
planned one after the other cannot be promised the same units. So ``ready_for_dispatch``
moves no stock.

======================  =====================================================  =========================
action                  stock                                                  function
======================  =====================================================  =========================
(create)                source: reserved + q                                   ``stock_reserve``
ready_for_dispatch      none (already reserved at creation)                    —
dispatch                source: reserved − q, on_hand − q                      ``stock_pick``
receive                 destination: on_hand + q, reserved + q (for package)   ``stock_receive_reserved``
                        (package no longer waiting: on_hand + q only)          (``stock_return``)
cancel                  source: reserved − q                                   ``stock_release``
request_cancellation    none                                                   —
confirm_cancellation    from in_transit: source on_hand + q;                   ``stock_return`` /
                        from ready_to_shipment: source reserved − q            ``stock_release``
reject_cancellation     none                                                   —
======================  =====================================================  =========================

Lock order: package, then transfer(s) by primary key, then stock rows (by primary key within
a location) — the order the package services use when they cancel a package's transfers, so
the two cannot deadlock.

Errors: ``ActionNotAllowed`` (409), ``InsufficientStock`` (409), ``InvalidInput`` (400),
``Transfer.DoesNotExist`` (404).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import django_fsm as fsm
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from locations import services as stock
from locations.models import Sku, StockLevel, StockLocation
from oms.actors import Actor
from oms.exceptions import ActionNotAllowed, InsufficientStock, InvalidInput, OmsError
from oms.transitions import transition_record
from packages.models import Package
from packages.models import Status as PackageStatus
from transfers.models import (
    OPEN_STATES,
    TRANSFER_ACTION_SIDE,
    TRANSFER_ACTIONS,
    Status,
    Transfer,
    TransferItem,
    TransferTransition,
    transfer_status_dict,
)
from transfers.signals import transfer_cancelled, transfer_received

# Package states in which the package still waits for (or may again wait for) the units of
# its transfers: received units are reserved for it only then.
PACKAGE_AWAITING_TRANSFERS = frozenset(
    {PackageStatus.PENDING_TRANSFER, PackageStatus.PENDING_CANCELLATION}
)


# --- reads -------------------------------------------------------------------------------

def transfer_allowed_actions(transfer: Transfer) -> list[str]:
    """Return the actions the transfer's current state allows, in the state table's order."""
    names = {t.name for t in transfer.get_available_status_transitions()}
    return [name for name in TRANSFER_ACTIONS if name in names]


def transfer_actions_for_locations(transfer: Transfer, *, location_ids: Collection[int] | None) -> list[str]:
    """Return the allowed actions whose side (``TRANSFER_ACTION_SIDE``: source or destination)
    is one of ``location_ids``; ``None`` means every location (staff, all-locations token)."""
    names = transfer_allowed_actions(transfer)
    if location_ids is None:
        return names
    return [name for name in names if getattr(transfer, f"{TRANSFER_ACTION_SIDE[name]}_id") in location_ids]


def transfer_item_lines(transfer: Transfer) -> dict[int, int]:
    """Return ``{sku_id: quantity}`` for the transfer's items (1 query)."""
    return dict(TransferItem.objects.filter(transfer=transfer).values_list("sku_id", "quantity"))


def transfer_event_payload(transfer: Transfer, *, action: str, from_status: str | None,
                           actor: Actor, reason: str = "") -> dict:
    """Return the JSON-safe event payload: the committed transfer and the transition.

    ``payload["transfer"]["status"]["slug"]`` is the new state's slug. Reads
    ``transfer.package``, ``.source`` and ``.destination`` (select them to save queries).
    """
    items = [
        {"sku": code, "quantity": quantity}
        for code, quantity in TransferItem.objects.filter(transfer=transfer)
        .order_by("id").values_list("sku__code", "quantity")
    ]
    return {
        "transfer": {
            "id": transfer.pk,
            "number": transfer.number,
            "package": transfer.package.number,
            "source": transfer.source.code,
            "destination": transfer.destination.code,
            "status": transfer_status_dict(transfer.status),
            "version": transfer.version,
            "carrier": transfer.carrier,
            "tracking_number": transfer.tracking_number,
            "items": items,
        },
        "transition": {
            "action": action,
            "from_status": transfer_status_dict(from_status) if from_status is not None else None,
            "to_status": transfer_status_dict(transfer.status),
            "actor": str(actor),
            "reason": reason,
        },
    }


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


def transfer_placement_units(*, package: Package) -> tuple[dict[int, int], dict[int, int]]:
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


# --- the shared skeleton -----------------------------------------------------------------

def _lock(transfer_id: int, *, with_package: bool = False) -> Transfer:
    """Lock and return the transfer; with ``with_package`` lock its package row first."""
    if with_package:
        # package_id never changes, so reading it before the lock is safe.
        package_id = Transfer.objects.values_list("package_id", flat=True).get(pk=transfer_id)
        Package.objects.select_for_update().filter(pk=package_id).first()
    return (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("package", "source", "destination")
        .get(pk=transfer_id)
    )


def _check(transfer: Transfer, action: str) -> None:
    if not fsm.can_proceed(getattr(transfer, action)):
        raise ActionNotAllowed(
            f"'{action}' is not allowed while the transfer is {transfer.get_status_display()}",
            action=action,
            current_status=transfer_status_dict(transfer.status),
            allowed_actions=transfer_allowed_actions(transfer),
        )


def _record(transfer: Transfer, *, action: str, from_status: str | None, actor: Actor,
            fields: Iterable[str] = (), reason: str = "", payload: dict | None = None) -> Transfer:
    """Save the changed transfer row and write its log row and outbox event."""
    return transition_record(
        transfer, log_model=TransferTransition, log_fk="transfer", action=action,
        from_status=from_status, actor=actor, event_prefix="transfer",
        event_payload=transfer_event_payload, fields=fields, reason=reason, payload=payload,
        created_event="transfer.status.created")


def _status_before_cancellation_request(transfer: Transfer) -> str:
    previous = (
        TransferTransition.objects.filter(transfer=transfer, to_status=Status.CANCELLATION_WAITING)
        .exclude(from_status=Status.CANCELLATION_WAITING)
        .order_by("-id").values_list("from_status", flat=True).first()
    )
    if previous is None:
        raise OmsError(f"No cancellation request in the log of transfer {transfer.number}",
                       code="log_inconsistent")
    return previous


# --- package hooks -----------------------------------------------------------------------

def _after_received(transfer: Transfer) -> None:
    """Tell the package its transfer arrived (``transfers.signals.transfer_received``)."""
    transfer_received.send(sender=Transfer, transfer=transfer)


def _after_cancelled(transfer: Transfer) -> None:
    """Tell the package its transfer was cancelled (``transfers.signals.transfer_cancelled``)."""
    transfer_cancelled.send(sender=Transfer, transfer=transfer)


# --- creation ----------------------------------------------------------------------------

def _next_number(package: Package) -> str:
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


def _create_planned(package: Package, plan: Mapping[int, Mapping[int, int]],
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
        transfers.append(_record(transfer, action="create", from_status=None, actor=actor))
    return transfers


@transaction.atomic
def transfers_create_for_package(*, package: Package, lines: Mapping[int, int], actor: Actor,
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
    change the package: callers (package services) hold its lock.

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


# --- actions -----------------------------------------------------------------------------

@transaction.atomic
def transfer_ready_for_dispatch(*, transfer_id: int, actor: Actor) -> Transfer:
    """Mark the transfer prepared at the source (ready_for_dispatch, waiting -> ready_to_shipment).

    No stock change: the units were reserved at the source when the transfer was created.
    """
    transfer = _lock(transfer_id)
    _check(transfer, "ready_for_dispatch")
    from_status = transfer.status
    transfer.ready_for_dispatch()
    return _record(transfer, action="ready_for_dispatch", from_status=from_status, actor=actor)


@transaction.atomic
def transfer_dispatch(*, transfer_id: int, actor: Actor, carrier: str = "",
                      tracking_number: str = "") -> Transfer:
    """Hand the units to the carrier (dispatch, waiting/ready_to_shipment -> in_transit).

    The units leave the source: ``reserved`` and ``on_hand`` both drop (``stock_pick``).
    ``carrier`` and ``tracking_number`` are optional and stored as given (stripped).
    Raises StockInconsistency when the source no longer holds the reservation.
    """
    transfer = _lock(transfer_id)
    _check(transfer, "dispatch")
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    from_status = transfer.status
    stock.stock_pick(location_id=transfer.source_id, lines=transfer_item_lines(transfer))
    transfer.dispatch(carrier=carrier, tracking_number=tracking_number)
    return _record(transfer, action="dispatch", from_status=from_status, actor=actor,
                   fields=["carrier", "tracking_number"],
                   payload={"carrier": carrier, "tracking_number": tracking_number})


@transaction.atomic
def transfer_receive(*, transfer_id: int, actor: Actor) -> Transfer:
    """Take the units in at the destination (receive, in_transit -> transferred).

    Locks the package, then the transfer. The units enter the destination's ``on_hand`` and
    are reserved for the package (``stock_receive_reserved``) while the package still waits
    for them (Pending Transfer, or Pending Cancellation which may return to it) at this
    destination; otherwise (the package was cancelled or moved on) they enter ``on_hand``
    unreserved (``stock_return``). Then, if the package is in Pending Transfer and every one
    of its transfers that is not Cancelled is Transferred, runs ``package_transfers_arrived``
    (actor: system) in the same transaction.
    """
    transfer = _lock(transfer_id, with_package=True)
    _check(transfer, "receive")
    from_status = transfer.status
    package = transfer.package
    lines = transfer_item_lines(transfer)
    if package.status in PACKAGE_AWAITING_TRANSFERS and package.location_id == transfer.destination_id:
        stock.stock_receive_reserved(location_id=transfer.destination_id, lines=lines)
        reserved_for_package = True
    else:
        stock.stock_return(location_id=transfer.destination_id, lines=lines)
        reserved_for_package = False
    transfer.receive()
    _record(transfer, action="receive", from_status=from_status, actor=actor,
            payload={"reserved_for_package": reserved_for_package})
    _after_received(transfer)
    return transfer


def _cancel(transfer_id: int, actor: Actor, reason: str, *, hooks: bool) -> Transfer:
    transfer = _lock(transfer_id, with_package=hooks)
    _check(transfer, "cancel")
    from_status = transfer.status
    stock.stock_release(location_id=transfer.source_id, lines=transfer_item_lines(transfer))
    transfer.cancel()
    _record(transfer, action="cancel", from_status=from_status, actor=actor, reason=reason)
    if hooks:
        _after_cancelled(transfer)
    return transfer


@transaction.atomic
def transfer_cancel(*, transfer_id: int, actor: Actor, reason: str = "") -> Transfer:
    """Cancel before anything left the source (cancel, waiting -> cancelled).

    The source reservation is released (``stock_release``). Locks the package first; if it is
    still in Pending Transfer, runs ``package_transfer_lost`` (actor: system) in the same
    transaction.
    """
    return _cancel(transfer_id, actor, reason, hooks=True)


def _request_cancellation(transfer_id: int, actor: Actor, reason: str) -> Transfer:
    transfer = _lock(transfer_id)
    _check(transfer, "request_cancellation")
    from_status = transfer.status
    transfer.request_cancellation()
    return _record(transfer, action="request_cancellation", from_status=from_status, actor=actor,
                   reason=reason)


@transaction.atomic
def transfer_request_cancellation(*, transfer_id: int, actor: Actor, reason: str = "") -> Transfer:
    """Ask to stop a prepared or travelling transfer
    (request_cancellation, ready_to_shipment/in_transit -> cancellation_waiting). No stock change."""
    return _request_cancellation(transfer_id, actor, reason)


@transaction.atomic
def transfer_confirm_cancellation(*, transfer_id: int, actor: Actor, reason: str = "") -> Transfer:
    """Cancel after the cancellation request (confirm_cancellation, cancellation_waiting -> cancelled).

    By the state before the request (read from the log): from in_transit the units come back
    to the source's ``on_hand`` (``stock_return``); from ready_to_shipment the source
    reservation is released (``stock_release``). Locks the package first; if it is still in
    Pending Transfer, runs ``package_transfer_lost`` (actor: system) in the same transaction.
    Raises OmsError ``log_inconsistent`` when the log holds no cancellation request.
    """
    transfer = _lock(transfer_id, with_package=True)
    _check(transfer, "confirm_cancellation")
    from_status = transfer.status
    before_request = _status_before_cancellation_request(transfer)
    lines = transfer_item_lines(transfer)
    if before_request == Status.IN_TRANSIT:
        stock.stock_return(location_id=transfer.source_id, lines=lines)
    else:
        stock.stock_release(location_id=transfer.source_id, lines=lines)
    transfer.confirm_cancellation()
    _record(transfer, action="confirm_cancellation", from_status=from_status, actor=actor,
            reason=reason, payload={"status_before_request": before_request})
    _after_cancelled(transfer)
    return transfer


@transaction.atomic
def transfer_reject_cancellation(*, transfer_id: int, actor: Actor, reason: str = "") -> Transfer:
    """Too late to cancel (reject_cancellation, cancellation_waiting -> the state before,
    read from the log: ready_to_shipment or in_transit). No stock change.

    Raises OmsError ``log_inconsistent`` when the log holds no cancellation request.
    """
    transfer = _lock(transfer_id)
    _check(transfer, "reject_cancellation")
    from_status = transfer.status
    transfer.reject_cancellation(previous_status=_status_before_cancellation_request(transfer))
    return _record(transfer, action="reject_cancellation", from_status=from_status, actor=actor,
                   reason=reason)


@transaction.atomic
def transfers_cancel_open_for_package(*, package_id: int, actor: Actor, reason: str = "") -> None:
    """Stop every transfer still bringing units to the package.

    Waiting transfers are cancelled (``cancel``: source reservation released); Ready To
    Shipment and In Transit ones get a cancellation request (``request_cancellation``);
    Transferred, Cancellation Waiting and Cancelled ones are left alone. Locks the package,
    then the transfers in id order. The package hooks are not run: callers (package
    services) have already moved the package out of Pending Transfer or are doing so.
    """
    Package.objects.select_for_update().filter(pk=package_id).first()
    transfers = list(
        Transfer.objects.select_for_update().filter(package_id=package_id).order_by("pk")
        .values_list("pk", "status")
    )
    for transfer_id, status in transfers:
        if status == Status.WAITING:
            _cancel(transfer_id, actor, reason, hooks=False)
        elif status in (Status.READY_TO_SHIPMENT, Status.IN_TRANSIT):
            _request_cancellation(transfer_id, actor, reason)


TRANSFER_ACTION_SERVICES = {
    "ready_for_dispatch": transfer_ready_for_dispatch,
    "dispatch": transfer_dispatch,
    "receive": transfer_receive,
    "cancel": transfer_cancel,
    "request_cancellation": transfer_request_cancellation,
    "confirm_cancellation": transfer_confirm_cancellation,
    "reject_cancellation": transfer_reject_cancellation,
}
