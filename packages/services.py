"""Every state change of a package: one function per action, one transaction each.

Each action service (state-machine.md, "Package actions") takes its package as
``package_id=`` or as ``number=`` (optionally with ``packages=``, the queryset the caller
may act on: a package outside it is ``Package.DoesNotExist``), see ``PackageRef``, and:

1. locks the package row (``SELECT … FOR UPDATE``, by id or by number in one statement)
   and checks, under the lock, that the actor may run the action, that the brand has it
   switched on and that the current state allows it (else ``ActionNotAllowed``, nothing
   written);
2. runs the django-fsm transition and its stock effects (``locations.services``);
3. saves with ``update_fields``, bumps ``version``, writes one ``PackageTransition`` row and
   one ``package.status.transitioned`` outbox event, handed on only after commit.

Errors: ``ActionNotAllowed`` (409), ``ActorNotPermitted`` (403), ``InsufficientStock``
(409), ``InvalidInput`` (400), ``Package.DoesNotExist`` (404).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import NamedTuple, TypedDict, Unpack

import django_fsm as fsm
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from locations import services as stock
from locations.models import Sku, StockLevel, StockLocation
from oms import bulk_sql, row_sql
from oms.actors import Actor, system_actor
from oms.api_tokens import ApiToken, api_token_scope_sql
from oms.bulk_sql import rows_update
from oms.db import retry_on_deadlock
from oms.events import event_insert_statement, events_hand_on_after_commit, events_publish_many
from oms.exceptions import ActionNotAllowed, InsufficientStock, InvalidInput, OmsError
from oms.transitions import transition_record
from packages.actions import ACTIONS, actor_may_run
from packages.models import (
    PICKED_STATES,
    RESERVING_STATES,
    Brand,
    DenialReason,
    Package,
    PackageItem,
    PackageTransition,
    Status,
    status_dict,
)


class ActorNotPermitted(OmsError):
    """The actor's kind may not run this action (state table "who" column). HTTP 403."""

    code = "actor_not_permitted"
    http_status = 403


@dataclass(frozen=True)
class ItemInput:
    """A line to put in a new package: ``quantity`` units of ``sku`` (a ``Sku``)."""

    sku: Sku
    quantity: int
    unit_price: Decimal | None = None
    freight_value: Decimal | None = None


# --- reads used by the services ----------------------------------------------------------

def package_allowed_actions(package: Package, *, actor_kind: str | None = None) -> list[str]:
    """Return the actions runnable now on ``package``: allowed from its state (and delivery
    type), switched on for its brand and, if ``actor_kind`` is given, open to that actor.

    Reads ``package.brand`` (use ``select_related("brand")`` to avoid a query).
    """
    names = []
    for transition in package.get_available_status_transitions():
        name = transition.name
        if name in names or not package.brand.is_action_enabled(name):
            continue
        if actor_kind is not None and not actor_may_run(name, actor_kind):
            continue
        names.append(name)
    return sorted(names, key=_ACTION_ORDER.__getitem__)


_ACTION_ORDER = {name: index for index, name in enumerate(ACTIONS)}


def package_item_lines(package: Package) -> dict[int, int]:
    """Return ``{sku_id: quantity}`` for the package's items (1 query)."""
    return dict(PackageItem.objects.filter(package=package).values_list("sku_id", "quantity"))


def package_event_payload(package: Package, *, action: str, from_status: int | None,
                          actor: Actor, reason: str = "", items: list[dict] | None = None) -> dict:
    """Return the JSON-safe event payload: the committed package and the transition.

    ``items`` (``[{"sku", "quantity"}]``) may be given by a caller that has them; else the
    package's prefetched ``items`` are used when it has them (prefetched in id order with
    ``select_related("sku")``, e.g. through ``packages=`` of an action service), or they are
    read (1 query).
    """
    if items is None:
        prefetched = getattr(package, "_prefetched_objects_cache", {}).get("items")
        if prefetched is not None:
            items = [{"sku": item.sku.code, "quantity": item.quantity} for item in prefetched]
        else:
            items = [
                {"sku": code, "quantity": quantity}
                for code, quantity in PackageItem.objects.filter(package=package)
                .order_by("id").values_list("sku__code", "quantity")
            ]
    return {
        "package": {
            "id": package.pk,
            "number": package.number,
            "order_number": package.order_number,
            "brand": package.brand.slug,
            "location": package.location.code,
            "delivery_type": package.delivery_type,
            "status": status_dict(package.status),
            "version": package.version,
            "ship_by": package.ship_by.isoformat() if package.ship_by else None,
            "carrier": package.carrier,
            "tracking_number": package.tracking_number,
            "invoice_number": package.invoice_number,
            "replaces": package.replaces.number if package.replaces_id else None,
            "items": items,
        },
        "transition": {
            "action": action,
            "from_status": status_dict(from_status) if from_status is not None else None,
            "to_status": status_dict(package.status),
            "actor": str(actor),
            "reason": reason,
        },
    }


# --- the shared skeleton -----------------------------------------------------------------

class PackageRef(TypedDict, total=False):
    """How an action service is told its package: ``package_id``, or ``number`` (optionally
    within ``packages``, the caller's scope, e.g. an API token's stock locations). Exactly
    one of ``package_id`` and ``number``."""

    package_id: int
    number: str
    packages: QuerySet[Package]


def _lock(*, package_id: int | None = None, number: str | None = None,
          packages: QuerySet[Package] | None = None) -> Package:
    """Lock the package row and return it, in one statement: ``SELECT … FOR UPDATE OF`` the
    package (by ``package_id``, or by ``number`` and inside ``packages`` when given), with
    ``brand`` and ``location`` joined. Prefetches ``packages`` carries run after the lock.

    Its ``replacement`` is known without a query unless it is Canceled or Defective Product
    Found: only ``_replace`` gives a package a replacement, and it moves the package there.
    Raises ``Package.DoesNotExist`` when no such package exists (or it is outside ``packages``).
    """
    if (package_id is None) == (number is None):
        raise TypeError("give exactly one of package_id and number")
    queryset = (packages if packages is not None else Package.objects.all()).select_for_update(
        of=("self",)).select_related("brand", "location")
    package = queryset.get(pk=package_id) if number is None else queryset.get(number=number)
    if package.status not in _REPLACED_STATES:
        Package.replacement.related.set_cached_value(package, None)
    return package


# The states of a package that may have a replacement (the targets of _replace).
_REPLACED_STATES = frozenset({Status.CANCELED, Status.DEFECTIVE_PRODUCT_FOUND})


def _not_allowed(package: Package, action: str, actor: Actor, detail: str | None = None,
                 code: str | None = None) -> ActionNotAllowed:
    return ActionNotAllowed(
        detail or f"'{action}' is not allowed while the package is {package.get_status_display()}",
        code=code,
        action=action,
        current_status=status_dict(package.status),
        allowed_actions=package_allowed_actions(package, actor_kind=actor.kind),
    )


def _check(package: Package, action: str, actor: Actor) -> None:
    if not actor_may_run(action, actor.kind):
        raise ActorNotPermitted(
            f"'{action}' cannot be run by a {actor.kind} actor", action=action
        )
    if not package.brand.is_action_enabled(action):
        raise _not_allowed(package, action, actor,
                           f"'{action}' is switched off for brand {package.brand.slug}",
                           code="action_disabled")
    if not fsm.can_proceed(getattr(package, action)):
        if fsm.can_proceed(getattr(package, action), check_conditions=False):
            needed = {"ship": "a ship", "mark_ready_for_pickup": "a click-and-collect"}.get(action, "another")
            raise _not_allowed(package, action, actor,
                               f"'{action}' needs {needed} package; this one is {package.delivery_type}",
                               code="delivery_type_mismatch")
        raise _not_allowed(package, action, actor)


def _record(package: Package, *, action: str, from_status: int | None, actor: Actor,
            fields: Iterable[str] = (), reason: str = "", payload: dict | None = None) -> Package:
    """Save the changed package row and write its log row and outbox event."""
    return transition_record(
        package, log_model=PackageTransition, log_fk="package", action=action,
        from_status=from_status, actor=actor, event_prefix="package",
        event_payload=package_event_payload, fields=fields, reason=reason, payload=payload)


def _local_lines(package: Package, status: int) -> dict[int, int]:
    """Units a package in ``status`` holds reserved at its own location.

    All its items, except in Pending Transfer, where the units of this placement's
    transfers that have not arrived (still travelling, or lost with a cancelled transfer)
    are not there; received ones are reserved for the package on arrival.
    """
    lines = package_item_lines(package)
    if status != Status.PENDING_TRANSFER:
        return lines
    from transfers.services import transfer_placement_units

    in_flight, lost = transfer_placement_units(package=package)
    local = {sku_id: qty - in_flight.get(sku_id, 0) - lost.get(sku_id, 0)
             for sku_id, qty in lines.items()}
    return {sku_id: qty for sku_id, qty in local.items() if qty > 0}


def _release_held_stock(package: Package, status: int) -> None:
    """Undo what a package in ``status`` holds at its location: reservations or picked units."""
    if status in RESERVING_STATES:
        lines = _local_lines(package, status)
        if lines:
            stock.stock_release(location_id=package.location_id, lines=lines)
    elif status in PICKED_STATES:
        stock.stock_return(location_id=package.location_id, lines=package_item_lines(package))


def _cancel_open_transfers(package: Package, actor: Actor) -> None:
    """Cancel (or ask to cancel) the transfers still bringing units to ``package``.

    Call after the package left Pending Transfer and was saved, so the transfers' own
    "package still waiting" hooks do not fire again.
    """
    from transfers.services import transfers_cancel_open_for_package

    transfers_cancel_open_for_package(package_id=package.pk, actor=actor)


def _place(package: Package, lines: Mapping[int, int], actor: Actor, *,
           allow_transfers: bool = True) -> tuple[Status, list[dict]]:
    """Decide where ``package`` starts at ``package.location`` and hold its stock.

    state-machine.md ("New packages start …"): Pending with every unit reserved when the
    location has them all; else Pending Transfer when transfers from other locations can
    bring the rest (the local part is reserved, the transfers reserve at their sources);
    else Product Out of Stock, holding nothing. The package row must exist (transfers point
    to it). Without ``allow_transfers`` only Pending or Product Out of Stock. Returns the
    status and the local shortages.
    """
    shortages = _try_reserve(package.location_id, lines)
    if not shortages:
        return Status.PENDING, []
    if not allow_transfers:
        return Status.PRODUCT_OUT_OF_STOCK, shortages
    from transfers.services import transfers_create_for_package

    try:
        with transaction.atomic():
            local = stock.stock_reserve_available(location_id=package.location_id, lines=lines)
            missing = {sku_id: qty - local.get(sku_id, 0) for sku_id, qty in lines.items()}
            transfers_create_for_package(
                package=package, lines={k: v for k, v in missing.items() if v > 0}, actor=actor
            )
    except InsufficientStock:
        return Status.PRODUCT_OUT_OF_STOCK, shortages
    return Status.PENDING_TRANSFER, shortages


def shortage_text(shortages: Sequence[dict]) -> str:
    """Return ``"short: SKU X needs 2, has 0; …"`` for shortage dicts (``sku``/``needed``/``available``)."""
    if not shortages:
        return ""
    return ("short: " + "; ".join(
        f"SKU {s['sku']} needs {s['needed']}, has {s['available']}" for s in shortages))[:500]


def _out_of_stock_fields(package: Package, shortages: Sequence[dict]) -> list[str]:
    """Stamp the re-check fields of a package that is (still) Product Out of Stock."""
    now = timezone.now()
    package.stock_checked_at = now
    package.next_stock_check_at = now + dt.timedelta(minutes=package.brand.recheck_interval_minutes)
    package.stock_shortage = shortage_text(shortages)
    return ["stock_checked_at", "next_stock_check_at", "stock_shortage"]


def _try_reserve(location_id: int, lines: Mapping[int, int]) -> list[dict]:
    """Reserve all ``lines`` or nothing; return the shortages (empty when reserved)."""
    try:
        stock.stock_reserve(location_id=location_id, lines=lines)
    except InsufficientStock as exc:
        return exc.extra.get("shortages", [])
    return []


# --- creation ----------------------------------------------------------------------------

def _next_number(order_number: str) -> str:
    n = Package.objects.filter(order_number=order_number).count() + 1
    while Package.objects.filter(number=f"{order_number}-{n}").exists():
        n += 1
    return f"{order_number}-{n}"


ORDER_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
TRACKING_NUMBER_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: fits Code 128


def _validated_lines(*, location: StockLocation, items: Sequence[ItemInput],
                     delivery_type: str, order_number: str = "") -> dict[int, int]:
    """Check a new package's input; return its ``{sku_id: quantity}``. Raises InvalidInput.

    Order numbers are 1–64 of ``A-Z a-z 0-9 . _ : -`` (they become package numbers, which
    appear in URLs and barcodes).
    """
    if order_number is not None and not ORDER_NUMBER_RE.fullmatch(order_number or ""):
        raise InvalidInput("order_number must be 1–64 letters, digits, '.', '_', ':' or '-'",
                           field="order_number")
    if not items:
        raise InvalidInput("A package needs at least one item", field="items")
    if delivery_type not in Package.DeliveryType.values:
        raise InvalidInput(f"Unknown delivery type {delivery_type!r}", field="delivery_type")
    if not (location.is_active and location.can_package):
        raise InvalidInput(f"Location {location.code} cannot package", field="location")
    lines: dict[int, int] = {}
    for item in items:
        if item.quantity < 1:
            raise InvalidInput(f"Quantity of SKU {item.sku.code} must be >= 1", field="items")
        if item.sku.pk in lines:
            raise InvalidInput(f"SKU {item.sku.code} appears twice", field="items")
        lines[item.sku.pk] = item.quantity
    return lines


@retry_on_deadlock
@transaction.atomic
def package_create(*, order_number: str, brand: Brand, location: StockLocation,
                   items: Sequence[ItemInput], actor: Actor,
                   delivery_type: str = Package.DeliveryType.SHIP,
                   ship_by: dt.datetime | None = None, number: str | None = None,
                   external_ref: str | None = None, replaces: Package | None = None,
                   allow_transfers: bool = True) -> Package:
    """Create a package and reserve its stock (state-machine.md: "New packages start …").

    Starts Pending when ``location`` has every item available (units reserved), Pending
    Transfer when transfers can bring the rest, else Product Out of Stock (see ``_place``).
    ``number`` defaults to ``"<order_number>-<n>"``. ``allow_transfers=False`` keeps it to
    Pending / Product Out of Stock (replacement packages). Writes a ``create`` log row and
    a ``package.created`` event.

    Raises:
        InvalidInput: no items, a quantity < 1, a SKU twice, an inactive or non-packaging
            location, an unknown delivery type (``extra["field"]`` names the field).
    """
    lines = _validated_lines(location=location, items=items, delivery_type=delivery_type,
                             order_number=order_number)
    if external_ref and Package.objects.filter(external_ref=external_ref).exists():
        raise InvalidInput(f"A package with external_ref {external_ref} exists", field="external_ref")
    package = None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                package = Package.objects.create(
                    number=number or _next_number(order_number), order_number=order_number,
                    brand=brand, location=location, delivery_type=delivery_type,
                    ship_by=ship_by, status=Status.PENDING, external_ref=external_ref,
                    replaces=replaces,
                )
            break
        except IntegrityError:
            if number is not None and Package.objects.filter(number=number).exists():
                raise InvalidInput(f"Package number {number} exists", field="number") from None
            if external_ref and Package.objects.filter(external_ref=external_ref).exists():
                raise InvalidInput(f"A package with external_ref {external_ref} exists",
                                   field="external_ref") from None
    if package is None:
        raise OmsError("Could not allocate a package number", code="number_conflict")
    PackageItem.objects.bulk_create(
        PackageItem(package=package, sku=item.sku, quantity=item.quantity,
                    unit_price=item.unit_price, freight_value=item.freight_value)
        for item in items
    )
    status, shortages = _place(package, lines, actor, allow_transfers=allow_transfers)
    if status != Status.PENDING:
        # Not a transition: the row was inserted a moment ago in this transaction and
        # gets its starting state before anyone can see it.
        extra = {}
        if status == Status.PRODUCT_OUT_OF_STOCK:
            extra = {f: getattr(package, f) for f in _out_of_stock_fields(package, shortages)}
        Package.objects.filter(pk=package.pk).update(status=status, **extra)
        package.refresh_from_db(fields=["status"])
    reason = shortage_text(shortages)
    return _record(package, action="create", from_status=None, actor=actor, reason=reason,
                   payload={"replaces": replaces.number} if replaces else {})


@dataclass(frozen=True)
class PackageSpec:
    """One package to create with ``package_create_many`` (same fields as ``package_create``)."""

    order_number: str
    brand: Brand
    location: StockLocation
    items: Sequence[ItemInput]
    number: str
    delivery_type: str = Package.DeliveryType.SHIP
    ship_by: dt.datetime | None = None
    external_ref: str | None = None


class CreatedPackage(NamedTuple):
    """A package ``package_create_many(…, instances=False)`` created: its id, number, state."""

    pk: int
    number: str
    status: int


def _free_units_by_sku(sku_ids) -> dict[int, int]:
    """Return ``{sku_id: free units over all active locations}`` (1 query)."""
    if not sku_ids:
        return {}
    rows = (StockLevel.objects.filter(sku_id__in=list(sku_ids), location__is_active=True,
                                      on_hand__gt=F("reserved"))
            .values("sku_id").annotate(free=Sum(F("on_hand") - F("reserved"))).order_by())
    return {row["sku_id"]: row["free"] for row in rows}


def _lock_available(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    """Lock the stock rows of ``pairs`` (``{(location_id, sku_id)}``) in primary-key order,
    in one query, and return ``{pair: [stock level id, available units]}`` (pairs without a
    row are absent). As ``stock_levels_locked``, without a model instance per row."""
    if not pairs:
        return {}
    rows = (StockLevel.objects.select_for_update()
            .filter(location_id__in={loc for loc, _ in pairs}, sku_id__in={sku for _, sku in pairs})
            .order_by("pk").values_list("pk", "location_id", "sku_id", "on_hand", "reserved"))
    return {(loc, sku): [pk, on_hand - reserved] for pk, loc, sku, on_hand, reserved in rows
            if (loc, sku) in pairs}


@retry_on_deadlock
@transaction.atomic
def package_create_many(*, specs: Sequence[PackageSpec], actor: Actor,
                        instances: bool = True) -> list[Package | CreatedPackage | OmsError]:
    """Create many packages in one transaction, set-based (imports, bulk order intake).

    Same rules as ``package_create``, in the order of ``specs`` (an earlier spec gets scarce
    stock first): a package whose location holds every item starts Pending with its units
    reserved; a short package that the free units of all active locations together cannot
    complete starts Product Out of Stock; the others go through ``package_create`` one by one afterwards
    (Pending Transfer or Product Out of Stock). Every stock row involved is locked in one
    query, in primary-key order; packages, items, log rows and ``package.created`` events
    are inserted in bulk: on PostgreSQL one ``INSERT … SELECT FROM unnest`` per table from
    plain values (``oms.bulk_sql``), elsewhere ``bulk_create``.

    Returns one entry per spec, aligned: the created ``Package`` (a ``CreatedPackage`` with
    ``instances=False``: no model instance per package, for imports), or the ``OmsError``
    (``InvalidInput``: bad items, location, duplicate number/external_ref) that kept it out.
    Nothing is written for a refused spec.
    """
    results: list[Package | CreatedPackage | OmsError | None] = [None] * len(specs)
    numbers = {number for (number,) in bulk_sql.rows_matching(
        Package, "number", [s.number for s in specs], ["number"])}
    refs = {ref for (ref,) in bulk_sql.rows_matching(
        Package, "external_ref", [s.external_ref for s in specs if s.external_ref], ["external_ref"])}
    valid: list[tuple[int, PackageSpec, dict[int, int]]] = []
    for index, spec in enumerate(specs):
        try:
            lines = _validated_lines(location=spec.location, items=spec.items,
                                     delivery_type=spec.delivery_type, order_number=spec.order_number)
            if spec.number in numbers:
                raise InvalidInput(f"Package number {spec.number} exists", field="number")
            if spec.external_ref and spec.external_ref in refs:
                raise InvalidInput(f"A package with external_ref {spec.external_ref} exists",
                                   field="external_ref")
        except InvalidInput as exc:
            results[index] = exc
            continue
        numbers.add(spec.number)
        if spec.external_ref:
            refs.add(spec.external_ref)
        valid.append((index, spec, lines))

    available = _lock_available({(spec.location.pk, sku_id) for _, spec, lines in valid for sku_id in lines})
    placed, slow, added = [], [], defaultdict(int)
    for index, spec, lines in valid:
        rows = [(available.get((spec.location.pk, sku_id)), quantity) for sku_id, quantity in lines.items()]
        if all(row is not None and row[1] >= quantity for row, quantity in rows):
            for row, quantity in rows:
                row[1] -= quantity
                added[row[0]] += quantity
            placed.append((index, spec, Status.PENDING, ""))
        else:
            slow.append((index, spec, lines))
    by_amount = defaultdict(list)
    for pk, amount in added.items():
        by_amount[amount].append(pk)
    for amount, pks in by_amount.items():  # a handful of set-based updates (amounts repeat)
        StockLevel.objects.filter(pk__in=pks).update(reserved=F("reserved") + amount)

    # A short package that no other location can complete either starts Product Out of
    # Stock right here; the others may get transfers and go through package_create.
    elsewhere = _free_units_by_sku({sku_id for _, _, lines in slow for sku_id in lines})
    to_plan = []
    for index, spec, lines in slow:
        shortages = []
        for sku_id, quantity in lines.items():
            row = available.get((spec.location.pk, sku_id))
            here = max(row[1], 0) if row else 0
            if here < quantity:
                shortages.append((sku_id, quantity, here))
        if any(quantity - here > elsewhere.get(sku_id, 0) - here for sku_id, quantity, here in shortages):
            codes = {item.sku.pk: item.sku.code for item in spec.items}
            placed.append((index, spec, Status.PRODUCT_OUT_OF_STOCK, shortage_text(
                [{"sku": codes[sku_id], "needed": quantity, "available": here}
                 for sku_id, quantity, here in sorted(shortages, key=lambda s: codes[s[0]])])))
        else:
            to_plan.append(index)

    write = _insert_placed if bulk_sql.supported() else _bulk_create_placed
    for (index, *_), created in zip(placed, write(placed, actor=actor, instances=instances), strict=True):
        results[index] = created

    for index in to_plan:
        spec = specs[index]
        try:
            package = package_create(
                order_number=spec.order_number, brand=spec.brand, location=spec.location,
                items=spec.items, actor=actor, delivery_type=spec.delivery_type,
                ship_by=spec.ship_by, number=spec.number, external_ref=spec.external_ref)
        except InvalidInput as exc:
            results[index] = exc
            continue
        results[index] = package if instances else CreatedPackage(package.pk, package.number,
                                                                  package.status)
    return results


def _placed_fields(spec: PackageSpec, status: Status, reason: str, now: dt.datetime) -> dict:
    """Field values of a package ``package_create_many`` places without planning transfers."""
    fields = {"number": spec.number, "order_number": spec.order_number, "brand": spec.brand,
              "location": spec.location, "delivery_type": spec.delivery_type,
              "ship_by": spec.ship_by, "external_ref": spec.external_ref, "status": status,
              "status_changed_at": now, "placed_at": now,
              "stock_checked_at": None, "next_stock_check_at": None, "stock_shortage": ""}
    if status == Status.PRODUCT_OUT_OF_STOCK:
        fields.update(stock_checked_at=now, stock_shortage=reason, next_stock_check_at=now + dt.timedelta(
            minutes=spec.brand.recheck_interval_minutes))
    return fields


def _created_event(package, spec: PackageSpec, reason: str, actor: Actor) -> tuple[str, str, int, dict]:
    """The ``package.created`` event of a package placed by ``package_create_many``."""
    return ("package.created", "package", package.pk, package_event_payload(
        package, action="create", from_status=None, actor=actor, reason=reason,
        items=[{"sku": item.sku.code, "quantity": item.quantity} for item in spec.items]))


def _bulk_create_placed(placed, *, actor: Actor, instances: bool) -> list[Package | CreatedPackage]:
    """Write the placed packages with ``bulk_create`` (databases other than PostgreSQL)."""
    now = timezone.now()
    packages = Package.objects.bulk_create([
        Package(**_placed_fields(spec, status, reason, now)) for _, spec, status, reason in placed
    ], batch_size=500)
    PackageItem.objects.bulk_create([
        PackageItem(package=package, sku=item.sku, quantity=item.quantity,
                    unit_price=item.unit_price, freight_value=item.freight_value)
        for package, (_, spec, _, _) in zip(packages, placed, strict=True) for item in spec.items
    ], batch_size=1000)
    PackageTransition.objects.bulk_create([
        PackageTransition(package=package, from_status=None, to_status=status,
                          action="create", actor=str(actor)[:150], actor_user_id=actor.user_id,
                          reason=reason, created_at=now)
        for package, (_, _, status, reason) in zip(packages, placed, strict=True)
    ], batch_size=1000)
    events_publish_many([_created_event(package, spec, reason, actor)
                         for package, (_, spec, _, reason) in zip(packages, placed, strict=True)])
    if instances:
        return packages
    return [CreatedPackage(package.pk, package.number, package.status) for package in packages]


def _insert_placed(placed, *, actor: Actor, instances: bool) -> list[Package | CreatedPackage]:
    """Write the placed packages from plain values, one statement per table (PostgreSQL).

    The same rows as ``_bulk_create_placed``. Event payloads come from
    ``package_event_payload`` given the new row's values (a namespace, not a model instance,
    unless ``instances``: building a ``Package`` costs more than writing its row).
    """
    if not placed:
        return []
    now = timezone.now()
    rows = [_placed_fields(spec, status, reason, now) for _, spec, status, reason in placed]
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    columns["brand"] = [brand.pk for brand in columns["brand"]]
    columns["location"] = [location.pk for location in columns["location"]]
    columns["status"] = [int(status) for status in columns["status"]]
    returned = bulk_sql.insert_rows(Package, columns, now=now, returning=("id", "number"))
    if [number for _, number in returned] != columns["number"]:  # match by the unique number
        by_number = {number: pk for pk, number in returned}
        returned = [(by_number[number], number) for number in columns["number"]]
    ids = [pk for pk, _ in returned]
    items = [(pk, item.sku.pk, item.quantity, item.unit_price, item.freight_value)
             for pk, (_, spec, _, _) in zip(ids, placed, strict=True) for item in spec.items]
    bulk_sql.insert_rows(PackageItem, bulk_sql.columns_of(
        ("package_id", "sku_id", "quantity", "unit_price", "freight_value"), items), now=now)
    bulk_sql.insert_rows(
        PackageTransition,
        {"package_id": ids, "to_status": columns["status"], "reason": [reason for *_, reason in placed]},
        constants={"action": "create", "actor": str(actor)[:150], "actor_user_id": actor.user_id,
                   "created_at": now},
        now=now)
    if instances:
        packages = []
        for pk, row in zip(ids, rows, strict=True):
            package = Package(id=pk, created_at=now, updated_at=now, **row)
            package._state.adding, package._state.db = False, connection.alias
            packages.append(package)
    else:
        packages = [SimpleNamespace(pk=pk, version=1, carrier="", tracking_number="",
                                    invoice_number="", replaces_id=None, **row)
                    for pk, row in zip(ids, rows, strict=True)]
    events_publish_many([_created_event(package, spec, reason, actor)
                         for package, (_, spec, _, reason) in zip(packages, placed, strict=True)],
                        instances=False)
    if instances:
        return packages
    return [CreatedPackage(pk, number, status)
            for pk, number, status in zip(ids, columns["number"], columns["status"], strict=True)]


# --- actions -----------------------------------------------------------------------------

@transaction.atomic
def package_start_preparing(*, actor: Actor, **ref: Unpack[PackageRef]) -> Package:
    """Start picking (start_preparing, 100 -> 200). No stock effect."""
    package = _lock(**ref)
    _check(package, "start_preparing", actor)
    from_status = package.status
    package.start_preparing()
    return _record(package, action="start_preparing", from_status=from_status, actor=actor)


@transaction.atomic
def package_complete_packaging(*, actor: Actor, **ref: Unpack[PackageRef]) -> Package:
    """Finish packing (complete_packaging, 100/200/400 -> 500).

    The reserved units are picked: they leave the location's ``on_hand`` and ``reserved``.
    """
    package = _lock(**ref)
    _check(package, "complete_packaging", actor)
    from_status = package.status
    stock.stock_pick(location_id=package.location_id, lines=package_item_lines(package))
    package.complete_packaging()
    return _record(package, action="complete_packaging", from_status=from_status, actor=actor)


def _parse_item_quantities(package: Package, items: Mapping[str, int] | Sequence[dict],
                           lines: Mapping[int, int]) -> dict[int, int]:
    """Turn ``{"sku": qty}`` or ``[{"sku", "quantity"}]`` into ``{sku_id: qty}`` for this package."""
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        try:
            pairs = [(entry["sku"], entry["quantity"]) for entry in items]
        except (KeyError, TypeError):
            raise InvalidInput('items must be [{"sku": str, "quantity": int}, …]', field="items") from None
    if not pairs:
        raise InvalidInput("Name at least one item and quantity", field="items")
    sku_ids = dict(
        PackageItem.objects.filter(package=package).values_list("sku__code", "sku_id")
    )
    result: dict[int, int] = {}
    for code, quantity in pairs:
        if code not in sku_ids:
            raise InvalidInput(f"SKU {code} is not in package {package.number}", field="items")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise InvalidInput(f"Quantity of SKU {code} must be a whole number >= 1", field="items")
        sku_id = sku_ids[code]
        result[sku_id] = result.get(sku_id, 0) + quantity
        if result[sku_id] > lines[sku_id]:
            raise InvalidInput(
                f"SKU {code}: {result[sku_id]} reported but the package holds {lines[sku_id]}",
                field="items",
            )
    return result


def _replace(ref: PackageRef, *, action: str, items, actor: Actor, reason: str,
             remove_units) -> Package:
    """Shared body of report_missing / report_defective (state table rows 3 and 4)."""
    package = _lock(**ref)
    _check(package, action, actor)
    from_status = package.status
    lines = package_item_lines(package)
    reported = _parse_item_quantities(package, items, lines)
    stock.stock_release(location_id=package.location_id, lines=lines)
    remove_units(location_id=package.location_id, lines=reported)
    getattr(package, action)(reason=reason)
    codes = dict(Sku.objects.filter(pk__in=reported).values_list("pk", "code"))
    _record(package, action=action, from_status=from_status, actor=actor, reason=reason,
            fields=["cancellation_reason"],
            payload={"items": [{"sku": codes[s], "quantity": q} for s, q in sorted(reported.items())]})
    originals = PackageItem.objects.filter(package=package).select_related("sku").order_by("id")
    replacement = package_create(
        order_number=package.order_number, brand=package.brand, location=package.location,
        delivery_type=package.delivery_type, ship_by=package.ship_by, actor=actor,
        replaces=package, allow_transfers=False,
        items=[ItemInput(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                         freight_value=i.freight_value) for i in originals],
    )
    package.replacement = replacement
    return package


@retry_on_deadlock
@transaction.atomic
def package_report_missing(*, actor: Actor,
                           items: Mapping[str, int] | Sequence[dict],
                           **ref: Unpack[PackageRef]) -> Package:
    """Product Not Found (report_missing, 100/200/400 -> 900).

    ``items``: the units not found, ``{"SKU": qty}`` or ``[{"sku", "quantity"}]``, each
    at most what the package holds. The package's reservations are released, the missing
    units written off the location's ``on_hand``, the package canceled with reason
    ``product_not_found``, and a replacement package for the same order and items created
    in the same transaction (Pending if the location still has the stock, else Product Out
    of Stock), linked both ways (``replacement.replaces``). Returns the canceled package
    with ``.replacement`` set.
    """
    return _replace(ref, action="report_missing", items=items, actor=actor,
                    reason="product_not_found", remove_units=stock.stock_write_off)


@retry_on_deadlock
@transaction.atomic
def package_report_defective(*, actor: Actor,
                             items: Mapping[str, int] | Sequence[dict],
                             **ref: Unpack[PackageRef]) -> Package:
    """Defective Product (report_defective, 100/200/400 -> 910).

    As ``package_report_missing``, but the reported units move to the location's damaged
    stock and the package ends in Defective Product Found.
    """
    return _replace(ref, action="report_defective", items=items, actor=actor,
                    reason="defective_product", remove_units=stock.stock_mark_damaged)


@transaction.atomic
def package_ship(*, actor: Actor, carrier: str, tracking_number: str, **ref: Unpack[PackageRef]) -> Package:
    """Hand over to ``carrier`` (ship, 500 -> 550 | 560 | 700; delivery type ``ship`` only).

    Stops at the first of the brand's gates still open: a printed label (550), then an
    invoice (560); else Shipped (700).
    Raises InvalidInput when carrier or tracking number is blank.
    """
    return _run_checked(action="ship", actor=actor, ref=ref,
                        inputs={"carrier": carrier, "tracking_number": tracking_number})


@transaction.atomic
def package_confirm_label_printed(*, actor: Actor, **ref: Unpack[PackageRef]) -> Package:
    """Label printed and stuck on (confirm_label_printed, 550 -> 560 | 700)."""
    package = _lock(**ref)
    _check(package, "confirm_label_printed", actor)
    from_status = package.status
    package.confirm_label_printed(invoice_required=package.brand.requires_invoice)
    return _record(package, action="confirm_label_printed", from_status=from_status, actor=actor,
                   fields=["label_printed_at", "shipped_at"])


@transaction.atomic
def package_attach_invoice(*, actor: Actor, invoice_number: str,
                           invoice_date: dt.date, invoice_url: str = "",
                           **ref: Unpack[PackageRef]) -> Package:
    """Attach the invoice (attach_invoice: 560 -> 700; a data update in 100–550).

    Raises InvalidInput when ``invoice_number`` is blank.
    """
    return _run_checked(action="attach_invoice", actor=actor, ref=ref,
                        inputs={"invoice_number": invoice_number, "invoice_date": invoice_date,
                                "invoice_url": invoice_url})


def _run_checked(*, action: str, actor: Actor, ref: PackageRef, inputs: Mapping) -> Package:
    """Lock, ``_check``, check ``inputs`` with the action's rule in ``_BULK_RULES`` (the one
    place its input checks live, shared with the bulk and plain-SQL paths), transition, and
    record. Call inside the service's transaction."""
    fields, prepare = _BULK_RULES[action]
    package = _lock(**ref)
    _check(package, action, actor)
    transition_kwargs, reason, payload = prepare(package, **inputs)
    from_status = package.status
    getattr(package, action)(**transition_kwargs)
    return _record(package, action=action, from_status=from_status, actor=actor,
                   fields=fields, reason=reason, payload=payload or None)


def _simple(action: str, *, fields: Sequence[str] = (), doc: str):
    @transaction.atomic
    def service(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
        package = _lock(**ref)
        _check(package, action, actor)
        from_status = package.status
        getattr(package, action)()
        return _record(package, action=action, from_status=from_status, actor=actor,
                       fields=fields, reason=reason)

    service.__name__ = service.__qualname__ = f"package_{action}"
    service.__doc__ = doc
    return service


package_mark_ready_for_pickup = _simple(
    "mark_ready_for_pickup",
    doc="Ready for the customer to collect (mark_ready_for_pickup, 500 -> 600; click-and-collect only).")
package_hand_over = _simple(
    "hand_over", fields=["delivered_at"],
    doc="The customer collected it (hand_over, 600 -> 800).")
package_record_delivery_attempt = _simple(
    "record_delivery_attempt", fields=["delivery_attempts"],
    doc="Carrier event: delivery attempted (record_delivery_attempt, 700/720 -> 720); counts attempts.")
package_mark_delivered = _simple(
    "mark_delivered", fields=["delivered_at"],
    doc="Carrier event: delivered (mark_delivered, 700/710/720 -> 800).")


@transaction.atomic
def package_transfers_arrived(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
    """System: every transfer of the package is Transferred (transfers_arrived, 300 -> 400).

    Raises ``ActionNotAllowed`` (code ``transfers_not_arrived``) while a transfer of this
    placement is still open or was lost: the units would not be there to pick.
    """
    package = _lock(**ref)
    _check(package, "transfers_arrived", actor)
    from transfers.services import transfer_placement_units

    in_flight, lost = transfer_placement_units(package=package)
    if in_flight or lost:
        raise _not_allowed(package, "transfers_arrived", actor,
                           "Transfers of this package are still open or were cancelled",
                           code="transfers_not_arrived")
    from_status = package.status
    package.transfers_arrived()
    return _record(package, action="transfers_arrived", from_status=from_status, actor=actor,
                   reason=reason)


@transaction.atomic
def package_mark_delivery_failed(*, actor: Actor, reason: str, **ref: Unpack[PackageRef]) -> Package:
    """Carrier event: delivery failed (mark_delivery_failed, 700/720 -> 710), with ``reason``.

    Raises InvalidInput when ``reason`` is blank.
    """
    return _run_checked(action="mark_delivery_failed", actor=actor, ref=ref, inputs={"reason": reason})


@transaction.atomic
def package_reschedule(*, actor: Actor, **ref: Unpack[PackageRef]) -> Package:
    """Back to work once stock returned (reschedule, 920 -> 200); reserves every item.

    Raises:
        InsufficientStock: the location still lacks some item; ``extra["shortages"]`` names
            each SKU with the units needed and available. Nothing is written.
    """
    package = _lock(**ref)
    _check(package, "reschedule", actor)
    from_status = package.status
    stock.stock_reserve(location_id=package.location_id, lines=package_item_lines(package))
    package.reschedule()
    return _record(package, action="reschedule", from_status=from_status, actor=actor)


@dataclass
class RescheduleManyResult:
    """Outcome of ``package_reschedule_many``, by package id.

    ``rescheduled``: moved to In Progress, in the order they were served (longest waiting
    first); ``short``: ``{id: shortages}`` of the packages the location still could not
    cover under the lock (stamped like a re-check, left in Product Out of Stock);
    ``skipped``: locked by another transaction, gone, or no longer in Product Out of Stock
    (untouched); ``not_allowed``: their brand switched ``reschedule`` off (untouched).
    """

    rescheduled: list[int] = field(default_factory=list)
    short: dict[int, list[dict]] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    not_allowed: list[int] = field(default_factory=list)


def _values_sql(rows: Sequence[tuple], names: Sequence[str]) -> tuple[str, list]:
    """``(SELECT column1 AS a, … FROM (VALUES (%s, …), …))`` and its flat parameters (SQLite)."""
    aliases = ", ".join(f"column{i} AS {name}" for i, name in enumerate(names, start=1))
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    return (f"(SELECT {aliases} FROM (VALUES {', '.join([row] * len(rows))}) AS x)",
            [value for values in rows for value in values])


SQLITE_ROWS_PER_STATEMENT = 500  # keeps a VALUES list far below SQLite's bound-parameter limit


def package_stamp_shortages(*, shortages: Mapping[int, Sequence[dict]], checked_at: dt.datetime,
                            next_check_at: dt.datetime) -> int:
    """Record a stock check on packages that are still short, in one statement.

    Sets ``stock_checked_at``, ``next_stock_check_at`` and ``stock_shortage`` (the
    ``shortage_text`` of each package's shortage dicts ``{"sku", "needed", "available"}``)
    on the packages of ``shortages`` (``{package_id: [shortage, …]}``) that are still in
    Product Out of Stock (the fields mean nothing elsewhere; state-machine.md, "Automatic
    rescheduling"); the others are left alone. No transition, log row or event: the state
    does not change. On PostgreSQL the rows are locked in primary-key order first (waiting
    for a row another transaction holds, as any UPDATE does); SQLite, whose writers run one
    at a time, takes ``UPDATE … FROM (VALUES …)`` in chunks (needs SQLite >= 3.33).

    Runs in the caller's transaction if there is one. Returns the number of packages stamped.
    """
    if not shortages:
        return 0
    ids = sorted(shortages)
    texts = [shortage_text(shortages[pk]) for pk in ids]
    table = connection.ops.quote_name(Package._meta.db_table)
    status = int(Status.PRODUCT_OUT_OF_STOCK)
    checked, next_check = (connection.ops.adapt_datetimefield_value(value)
                           for value in (checked_at, next_check_at))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"""
                WITH locked AS (
                    SELECT id FROM {table} WHERE id = ANY(%s) AND status = %s ORDER BY id FOR UPDATE
                )
                UPDATE {table} AS t
                SET stock_checked_at = %s, next_stock_check_at = %s, stock_shortage = v.text
                FROM locked JOIN unnest(%s::bigint[], %s::text[]) AS v(id, text) ON v.id = locked.id
                WHERE t.id = locked.id
            """, [ids, status, checked, next_check, ids, texts])
            return cursor.rowcount
        stamped = 0
        rows = list(zip(ids, texts, strict=True))
        for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            values, params = _values_sql(rows[start:start + SQLITE_ROWS_PER_STATEMENT], ("id", "text"))
            cursor.execute(f"""
                UPDATE {table} AS t
                SET stock_checked_at = %s, next_stock_check_at = %s, stock_shortage = v.text
                FROM {values} AS v WHERE t.id = v.id AND t.status = %s
            """, [checked, next_check, *params, status])
            stamped += cursor.rowcount
        return stamped


def _stock_add_reserved(units: Mapping[int, int], *, now: dt.datetime) -> None:
    """Add ``units`` (``{stock_level_id: units}``) to ``reserved`` of stock rows the caller
    holds locked, in one statement (chunks on SQLite). Raises InsufficientStock, rolling the
    caller back, if a row cannot take them (not reachable while the rows are locked)."""
    if not units:
        return
    table = connection.ops.quote_name(StockLevel._meta.db_table)
    rows = sorted(units.items())
    stamp = connection.ops.adapt_datetimefield_value(now)
    updated = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"""
                UPDATE {table} AS s SET reserved = s.reserved + v.units, updated_at = %s
                FROM unnest(%s::bigint[], %s::integer[]) AS v(id, units)
                WHERE s.id = v.id AND s.on_hand >= s.reserved + v.units
            """, [stamp, [pk for pk, _ in rows], [n for _, n in rows]])
            updated = cursor.rowcount
        else:
            for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
                values, params = _values_sql(rows[start:start + SQLITE_ROWS_PER_STATEMENT], ("id", "units"))
                cursor.execute(f"""
                    UPDATE {table} AS s SET reserved = s.reserved + v.units, updated_at = %s
                    FROM {values} AS v WHERE s.id = v.id AND s.on_hand >= s.reserved + v.units
                """, [stamp, *params])
                updated += cursor.rowcount
    if updated != len(rows):
        raise InsufficientStock("Stock changed while reserving for rescheduled packages")


@retry_on_deadlock
@transaction.atomic
def package_reschedule_many(*, package_ids: Sequence[int], actor: Actor,
                            now: dt.datetime | None = None) -> RescheduleManyResult:
    """Reschedule many Product Out of Stock packages at once (reschedule, 920 -> 200), in one
    transaction: the automatic re-check's batch form of ``package_reschedule``.

    The packages still in Product Out of Stock are locked in one query in primary-key
    order with ``SKIP LOCKED`` (one an operator is acting on is skipped, never waited for),
    then served longest waiting first (``status_changed_at``, then id): each takes its
    units from the stock rows of its location, locked in one query in primary-key order,
    if every item is covered after the packages served before it; else it stays in
    Product Out of Stock with the shortage it met (``package_stamp_shortages``, next check
    at ``now`` + its brand's ``recheck_interval_minutes``), as a failed
    ``package_reschedule`` leaves it. A package whose brand switched ``reschedule`` off is
    left alone (state-machine.md, "Automatic rescheduling", "Package actions").

    Each rescheduled package gets what ``package_reschedule`` writes: ``version`` +1,
    ``status_changed_at``, one ``PackageTransition`` row (920 -> 200, ``reschedule``, the
    actor) and one ``package.status.transitioned`` outbox event with the same payload,
    handed on only after commit. Written set-based: one UPDATE for the stock rows, one for
    the packages, bulk inserts for log rows and events.

    Args:
        package_ids: the packages to try, any order (ids not in Product Out of Stock are
            reported ``skipped``); a sequence, read again if a deadlock retry runs.
        actor: who reschedules (``system_actor("system:recheck")`` for the re-check).
        now: the clock of the stock check stamped on short packages (UTC); defaults to
            ``timezone.now()``.
    Returns a ``RescheduleManyResult``.
    Raises:
        ActorNotPermitted: ``actor``'s kind may not reschedule; nothing written.
    """
    if not actor_may_run("reschedule", actor.kind):
        raise ActorNotPermitted(f"'reschedule' cannot be run by a {actor.kind} actor", action="reschedule")
    now = now or timezone.now()
    wanted = list(dict.fromkeys(package_ids))
    result = RescheduleManyResult()
    locked = list(
        Package.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("brand", "location", "replaces")
        .filter(pk__in=wanted, status=Status.PRODUCT_OUT_OF_STOCK)
        .order_by("pk")
    )
    found = {package.pk for package in locked}
    result.skipped = [pk for pk in wanted if pk not in found]
    packages = []
    for package in sorted(locked, key=lambda p: (p.status_changed_at, p.pk)):
        if package.brand.is_action_enabled("reschedule"):
            packages.append(package)
        else:
            result.not_allowed.append(package.pk)
    if not packages:
        return result

    ids = [package.pk for package in packages]
    items: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for package_id, sku_id, code, quantity in (
            PackageItem.objects.filter(package_id__in=ids).order_by("package_id", "id")
            .values_list("package_id", "sku_id", "sku__code", "quantity")):
        items[package_id].append((sku_id, code, quantity))
    # the stock rows these packages draw on, exactly (one per item, by the unique
    # (location, sku) index), locked in one query in primary-key order
    level_of_item = StockLevel.objects.filter(
        location_id=OuterRef("package__location_id"), sku_id=OuterRef("sku_id")).values("pk")[:1]
    levels = {  # {(location_id, sku_id): [stock_level_id, free units]}
        (location_id, sku_id): [pk, on_hand - reserved]
        for pk, location_id, sku_id, on_hand, reserved in
        StockLevel.objects.select_for_update(of=("self",))
        .filter(pk__in=PackageItem.objects.filter(package_id__in=ids)
                .annotate(level=Subquery(level_of_item)).values("level"))
        .order_by("pk").values_list("pk", "location_id", "sku_id", "on_hand", "reserved")
    }

    served, units = [], defaultdict(int)  # units: {stock_level_id: units to reserve}
    for package in packages:  # longest waiting first
        lines = []  # (stock row or None, SKU code, quantity, free units now)
        for sku_id, code, quantity in items[package.pk]:
            level = levels.get((package.location_id, sku_id))
            lines.append((level, code, quantity, level[1] if level else 0))
        shortages = sorted(  # as stock_shortages reports them: by SKU code, never below 0
            ({"sku": code, "needed": quantity, "available": max(free, 0)}
             for _, code, quantity, free in lines if free < quantity),
            key=lambda shortage: shortage["sku"])
        if shortages:
            result.short[package.pk] = shortages
            continue
        for level, _, quantity, _ in lines:
            level[1] -= quantity
            units[level[0]] += quantity
        served.append(package)

    by_interval = defaultdict(dict)
    for package in packages:
        if package.pk in result.short:
            by_interval[package.brand.recheck_interval_minutes][package.pk] = result.short[package.pk]
    for minutes, shortages in by_interval.items():
        package_stamp_shortages(shortages=shortages, checked_at=now,
                                next_check_at=now + dt.timedelta(minutes=minutes))
    if not served:
        return result

    changed_at = timezone.now()
    _stock_add_reserved(units, now=changed_at)
    from_status = Status.PRODUCT_OUT_OF_STOCK
    for package in served:
        package.reschedule()  # the FSM transition: checks the source state, sets the target
        package.version += 1
        package.status_changed_at = package.updated_at = changed_at
    Package.objects.filter(pk__in=[package.pk for package in served]).update(
        status=Status.IN_PROGRESS, version=F("version") + 1, status_changed_at=changed_at,
        updated_at=changed_at)
    PackageTransition.objects.bulk_create([
        PackageTransition(package=package, from_status=from_status, to_status=package.status,
                          action="reschedule", actor=str(actor)[:150], actor_user_id=actor.user_id,
                          reason="", payload={}, created_at=changed_at)
        for package in served
    ], batch_size=1000)
    events_publish_many([
        ("package.status.transitioned", "package", package.pk, package_event_payload(
            package, action="reschedule", from_status=from_status, actor=actor,
            items=[{"sku": code, "quantity": quantity} for _, code, quantity in items[package.pk]]))
        for package in served
    ])
    result.rescheduled = [package.pk for package in served]
    return result


@transaction.atomic
def package_refuse(*, actor: Actor, denial_reason_id: int, **ref: Unpack[PackageRef]) -> Package:
    """The location declines the package (refuse, 100/200 -> 930); reservations released.

    Raises InvalidInput when ``denial_reason_id`` names no active denial reason.
    """
    package = _lock(**ref)
    _check(package, "refuse", actor)
    reason = DenialReason.objects.filter(pk=denial_reason_id, is_active=True).first()
    if reason is None:
        raise InvalidInput(f"No active denial reason {denial_reason_id}", field="denial_reason")
    from_status = package.status
    _release_held_stock(package, from_status)
    package.refuse(denial_reason=reason)
    return _record(package, action="refuse", from_status=from_status, actor=actor,
                   fields=["denial_reason"], reason=reason.title)


@retry_on_deadlock
@transaction.atomic
def package_reassign_location(*, actor: Actor, location_code: str, **ref: Unpack[PackageRef]) -> Package:
    """Re-plan to ``location_code`` (reassign_location, 920/930 -> 100 | 300 | 920).

    Pending with the units reserved where the new location has every item, Pending Transfer
    where transfers can bring the rest, else Product Out of Stock there (see ``_place``).
    Raises InvalidInput for an unknown, inactive or non-packaging location.
    """
    package = _lock(**ref)
    _check(package, "reassign_location", actor)
    location = StockLocation.objects.filter(code=location_code).first()
    if location is None or not (location.is_active and location.can_package):
        raise InvalidInput(f"Location {location_code} does not exist or cannot package",
                           field="location")
    if location.pk == package.location_id:
        raise InvalidInput(f"The package is already at {location_code}; choose another location",
                           field="location")
    from_status, from_location = package.status, package.location.code
    package.location, package.placed_at = location, timezone.now()
    target, shortages = _place(package, package_item_lines(package), actor)
    package.reassign_location(location=location, target=target)
    fields = ["location", "placed_at"]
    if target == Status.PRODUCT_OUT_OF_STOCK:
        fields += _out_of_stock_fields(package, shortages)
    return _record(package, action="reassign_location", from_status=from_status, actor=actor,
                   fields=fields, reason=shortage_text(shortages),
                   payload={"from_location": from_location, "to_location": location.code})


@transaction.atomic
def package_cancel(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
    """Cancel before any physical work (cancel, 100/920/930 -> 900); reservations released."""
    package = _lock(**ref)
    _check(package, "cancel", actor)
    from_status = package.status
    _release_held_stock(package, from_status)
    package.cancel(reason=reason)
    return _record(package, action="cancel", from_status=from_status, actor=actor,
                   fields=["cancellation_reason"], reason=reason)


@transaction.atomic
def package_request_cancellation(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
    """Ask to cancel work in progress (request_cancellation, 200–600 -> 850). No stock effect."""
    package = _lock(**ref)
    _check(package, "request_cancellation", actor)
    from_status = package.status
    package.request_cancellation(reason=reason)
    return _record(package, action="request_cancellation", from_status=from_status, actor=actor,
                   fields=["cancellation_reason"], reason=reason)


def _status_before_cancellation_request(package: Package) -> int:
    previous = (
        PackageTransition.objects.filter(package=package, to_status=Status.PENDING_CANCELLATION)
        .exclude(from_status=Status.PENDING_CANCELLATION)
        .order_by("-id").values_list("from_status", flat=True).first()
    )
    if previous is None:
        raise OmsError("No cancellation request in the log", code="log_inconsistent")
    return previous


@transaction.atomic
def package_confirm_cancellation(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
    """Cancel after work started (confirm_cancellation, 850 -> 900).

    Stock by the state before the request (read from the log): reservations released, or
    picked units returned to ``on_hand``; transfers still bringing units are cancelled.
    """
    package = _lock(**ref)
    _check(package, "confirm_cancellation", actor)
    from_status = package.status
    before_request = _status_before_cancellation_request(package)
    _release_held_stock(package, before_request)
    package.confirm_cancellation()
    _record(package, action="confirm_cancellation", from_status=from_status, actor=actor,
            reason=reason)
    if before_request == Status.PENDING_TRANSFER:
        _cancel_open_transfers(package, actor)
    return package


@transaction.atomic
def package_reject_cancellation(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
    """Too late to cancel (reject_cancellation, 850 -> the state before 850, from the log)."""
    package = _lock(**ref)
    _check(package, "reject_cancellation", actor)
    from_status = package.status
    package.reject_cancellation(previous_status=_status_before_cancellation_request(package))
    _record(package, action="reject_cancellation", from_status=from_status, actor=actor,
            fields=["cancellation_reason"], reason=reason)
    if package.status == Status.PENDING_TRANSFER:
        # Transfers may have arrived or been lost while the cancellation was pending.
        from transfers.services import transfer_placement_units

        in_flight, lost = transfer_placement_units(package=package)
        if lost:
            return package_transfer_lost(package_id=package.pk, actor=system_actor(),
                                         reason="a transfer was cancelled meanwhile")
        if not in_flight:
            return package_transfers_arrived(package_id=package.pk, actor=system_actor())
    return package


@transaction.atomic
def package_transfer_lost(*, actor: Actor, reason: str = "", **ref: Unpack[PackageRef]) -> Package:
    """System: a transfer of the package was Cancelled (transfer_lost, 300 -> 930).

    Raises ``ActionNotAllowed`` (code ``no_transfer_lost``) when none of this placement's
    transfers is Cancelled.

    The package's reservations at its location are released and its other open transfers
    cancelled (or asked to cancel when already on their way).
    """
    package = _lock(**ref)
    _check(package, "transfer_lost", actor)
    from transfers.services import transfer_placement_units

    if not transfer_placement_units(package=package)[1]:
        raise _not_allowed(package, "transfer_lost", actor,
                           "No transfer of this package was cancelled", code="no_transfer_lost")
    from_status = package.status
    _release_held_stock(package, from_status)
    package.transfer_lost()
    _record(package, action="transfer_lost", from_status=from_status, actor=actor, reason=reason)
    _cancel_open_transfers(package, actor)
    return package


ACTION_SERVICES = {
    "start_preparing": package_start_preparing,
    "complete_packaging": package_complete_packaging,
    "report_missing": package_report_missing,
    "report_defective": package_report_defective,
    "ship": package_ship,
    "confirm_label_printed": package_confirm_label_printed,
    "attach_invoice": package_attach_invoice,
    "mark_ready_for_pickup": package_mark_ready_for_pickup,
    "hand_over": package_hand_over,
    "record_delivery_attempt": package_record_delivery_attempt,
    "mark_delivered": package_mark_delivered,
    "mark_delivery_failed": package_mark_delivery_failed,
    "reschedule": package_reschedule,
    "refuse": package_refuse,
    "reassign_location": package_reassign_location,
    "cancel": package_cancel,
    "request_cancellation": package_request_cancellation,
    "confirm_cancellation": package_confirm_cancellation,
    "reject_cancellation": package_reject_cancellation,
    "transfers_arrived": package_transfers_arrived,
    "transfer_lost": package_transfer_lost,
}


# --- set-based bulk transitions (actions without stock effects) ----------------------------
#
# For each action: the columns its transition may change besides status/version/updated_at/
# status_changed_at (as its single service saves them), and a function that checks the
# entry's input (for ship, attach_invoice and mark_delivery_failed the single services
# call the same function, through ``_run_checked``) and returns ``(transition
# kwargs, log reason, log payload)``. Actions that move stock or read other tables under the
# lock (transfers, the log) are not here: they keep the per-package services.

def _bulk_no_input(package: Package) -> tuple[dict, str, dict]:
    return {}, "", {}


def _bulk_reason(package: Package, *, reason: str = "") -> tuple[dict, str, dict]:
    return {}, reason, {}


def _bulk_ship(package: Package, *, carrier: str, tracking_number: str) -> tuple[dict, str, dict]:
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    if not carrier:
        raise InvalidInput("carrier is required", field="carrier")
    if not tracking_number:
        raise InvalidInput("tracking_number is required", field="tracking_number")
    if not TRACKING_NUMBER_RE.fullmatch(tracking_number):
        raise InvalidInput("tracking_number must be printable ASCII without spaces (it is printed "
                           "as a barcode)", field="tracking_number")
    return ({"carrier": carrier, "tracking_number": tracking_number,
             "label_required": package.brand.requires_shipping_label,
             "invoice_required": package.brand.requires_invoice},
            "", {"carrier": carrier, "tracking_number": tracking_number})


def _bulk_confirm_label_printed(package: Package) -> tuple[dict, str, dict]:
    return {"invoice_required": package.brand.requires_invoice}, "", {}


def _bulk_attach_invoice(package: Package, *, invoice_number: str, invoice_date: dt.date,
                         invoice_url: str = "") -> tuple[dict, str, dict]:
    invoice_number = (invoice_number or "").strip()
    if not invoice_number:
        raise InvalidInput("invoice_number is required", field="invoice_number")
    return ({"invoice_number": invoice_number, "invoice_date": invoice_date,
             "invoice_url": invoice_url or ""},
            "", {"invoice_number": invoice_number,
                 "invoice_date": invoice_date.isoformat() if invoice_date else None})


def _bulk_mark_delivery_failed(package: Package, *, reason: str) -> tuple[dict, str, dict]:
    if not (reason or "").strip():
        raise InvalidInput("reason is required", field="reason")
    return {}, reason.strip(), {}


def _bulk_request_cancellation(package: Package, *, reason: str = "") -> tuple[dict, str, dict]:
    return {"reason": reason}, reason, {}


_BULK_RULES = {
    "start_preparing": ((), _bulk_no_input),
    "ship": (("carrier", "tracking_number", "shipped_at"), _bulk_ship),
    "confirm_label_printed": (("label_printed_at", "shipped_at"), _bulk_confirm_label_printed),
    "attach_invoice": (("invoice_number", "invoice_date", "invoice_url", "shipped_at"),
                       _bulk_attach_invoice),
    "mark_ready_for_pickup": ((), _bulk_reason),
    "hand_over": (("delivered_at",), _bulk_reason),
    "record_delivery_attempt": (("delivery_attempts",), _bulk_reason),
    "mark_delivered": (("delivered_at",), _bulk_reason),
    "mark_delivery_failed": ((), _bulk_mark_delivery_failed),
    "request_cancellation": (("cancellation_reason",), _bulk_request_cancellation),
}

# The actions ``package_bulk_transition`` runs set-based (no stock effects, state table).
BULK_TRANSITION_ACTIONS = frozenset(_BULK_RULES)


def _event_items_by_package(package_ids: Sequence[int]) -> dict[int, list[dict]]:
    """``{package_id: [{"sku", "quantity"}, …]}`` in item order, as ``package_event_payload``
    reads them for one package (1 query)."""
    items: dict[int, list[dict]] = defaultdict(list)
    rows = (PackageItem.objects.filter(package_id__in=package_ids).order_by("package_id", "id")
            .values_list("package_id", "sku__code", "quantity"))
    for package_id, code, quantity in rows:
        items[package_id].append({"sku": code, "quantity": quantity})
    return items


@transaction.atomic
def package_bulk_transition(*, action: str, entries: Sequence[tuple[str, Mapping]], actor: Actor,
                            packages: QuerySet[Package] | None = None) -> list[Package | OmsError | None]:
    """Run ``action`` on many packages at once, set-based, in one transaction.

    For the actions in ``BULK_TRANSITION_ACTIONS`` (no stock effects; state-machine.md,
    "Package actions"). ``entries`` are ``(package number, keyword arguments of the action's
    single service, e.g. {"carrier": …, "tracking_number": …})``; numbers must be distinct.
    ``packages`` limits which packages may be acted on (e.g. an API token's scope; default
    all): a number outside it counts as unknown.

    Same rules and writes as calling the action's single service (``ACTION_SERVICES``) on
    each package in turn, with fewer statements: the packages are locked in one
    ``SELECT … FOR UPDATE OF`` by number, in primary-key order (with brand, location and the
    replaced package joined for the event payload); each one is checked under the lock like
    ``_check`` does (actor kind, brand switch, source state, delivery type), then its input
    as the single service checks it, then the django-fsm transition runs on it in Python.
    The packages that moved are written with one ``UPDATE`` (the same columns as the single
    service's ``save(update_fields=…)``, ``version`` +1, ``status_changed_at`` when the state
    changed), one bulk insert of ``PackageTransition`` rows and one of
    ``package.status.transitioned`` outbox events with the single path's columns and
    payloads, in request order; the events are handed on after commit. A refused package
    is not written.

    Returns one result per entry, aligned: the updated ``Package``; the ``OmsError`` the
    single service would have raised (``ActionNotAllowed``, ``ActorNotPermitted``,
    ``InvalidInput``); or None for an unknown number.

    Raises ValueError for an action not in ``BULK_TRANSITION_ACTIONS`` or a number listed
    twice, TypeError for keyword arguments the action does not take, and any
    ``DatabaseError``: then nothing of the call is written (it is one transaction, or one
    savepoint inside the caller's), and the caller may run the entries one by one instead
    (``packages.bulk.package_bulk_chunk_outcomes`` does).
    """
    if action not in _BULK_RULES:
        raise ValueError(f"{action!r} has stock effects or other reads under the lock; "
                         "use its single service")
    fields, prepare = _BULK_RULES[action]
    numbers = [number for number, _ in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError("A package number is listed twice")
    scope = Package.objects.all() if packages is None else packages
    locked = {
        package.number: package
        for package in scope.select_for_update(of=("self",))
        .select_related("brand", "location", "replaces").filter(number__in=numbers).order_by("pk")
    }
    results: list[Package | OmsError | None] = []
    moved: list[tuple[Package, int, str, dict, dt.datetime]] = []
    for number, kwargs in entries:
        package = locked.get(number)
        if package is None:
            results.append(None)
            continue
        try:
            _check(package, action, actor)
            transition_kwargs, reason, payload = prepare(package, **kwargs)
        except OmsError as exc:
            results.append(exc)
            continue
        from_status = package.status
        getattr(package, action)(**transition_kwargs)
        now = timezone.now()
        package.version += 1
        package.updated_at = now
        if package.status != from_status:
            package.status_changed_at = now
        moved.append((package, from_status, reason, payload, now))
        results.append(package)
    if not moved:
        return results

    stock_free_fields = sorted({"status", "version", "updated_at", "status_changed_at", *fields})
    rows_update([package for package, *_ in moved], stock_free_fields)
    PackageTransition.objects.bulk_create([
        PackageTransition(package=package, from_status=from_status, to_status=package.status,
                          action=action, actor=str(actor)[:150], actor_user_id=actor.user_id,
                          reason=reason[:255], payload=payload or {}, created_at=now)
        for package, from_status, reason, payload, now in moved
    ], batch_size=1000)
    items = _event_items_by_package([package.pk for package, *_ in moved])
    events_publish_many([
        ("package.status.transitioned", "package", package.pk, package_event_payload(
            package, action=action, from_status=from_status, actor=actor, reason=reason,
            items=items.get(package.pk, [])))
        for package, from_status, reason, _, _ in moved
    ])
    return results


# --- one action without stock effects, in plain SQL (the single-action API's hot path) ------

@functools.cache
def _one_sql() -> SimpleNamespace:
    """The statements of ``package_transition``, built once per process from model metadata:
    ``read`` (the package by number with its brand and location, ``%s`` = number; the scope
    and, to lock the row, ``FOR UPDATE`` appended per call), ``items`` (with their SKU, in id
    order) and ``log`` (the package's transition log, in id order), with the
    ``row_sql.Columns`` reading them.

    On PostgreSQL (``joined``) ``read`` also reads the items with their SKU and the log, each
    as one ``json_agg`` column (one round trip instead of three)."""
    q = row_sql.quote
    package, brand, location = (row_sql.Columns(Package), row_sql.Columns(Brand),
                                row_sql.Columns(StockLocation))
    item, sku, log = row_sql.Columns(PackageItem), row_sql.Columns(Sku), row_sql.Columns(PackageTransition)

    def column(columns: row_sql.Columns, name: str) -> str:
        meta = columns.model._meta
        return f"{columns.table}.{q(meta.pk.column if name == 'pk' else meta.get_field(name).column)}"

    items_from = (f"FROM {item.table} INNER JOIN {sku.table} ON {column(sku, 'pk')} = {column(item, 'sku')} "
                  f"WHERE {column(item, 'package')} = ")
    log_from = f"FROM {log.table} WHERE {column(log, 'package')} = "
    joined = connection.vendor == "postgresql"
    select = [package.sql, brand.sql, location.sql]
    if joined:
        select += [
            f"(SELECT json_agg(json_build_array({item.json_columns()}, {sku.json_columns()}) "
            f"ORDER BY {column(item, 'pk')}) "
            f"{items_from}{column(package, 'pk')})",
            f"(SELECT json_agg({log.json_sql()} ORDER BY {column(log, 'pk')}) "
            f"{log_from}{column(package, 'pk')})"]
    read = (f"SELECT {', '.join(select)} FROM {package.table} "
            f"INNER JOIN {brand.table} ON {column(brand, 'pk')} = {column(package, 'brand')} "
            f"INNER JOIN {location.table} ON {column(location, 'pk')} = {column(package, 'location')} "
            f"WHERE {column(package, 'number')} = %s")
    items = f"SELECT {item.sql}, {sku.sql} {items_from}%s ORDER BY {column(item, 'pk')}"
    log_sql = f"SELECT {log.sql} {log_from}%s ORDER BY {column(log, 'pk')}"
    return SimpleNamespace(read=read, items=items, log=log_sql, joined=joined, package=package, brand=brand,
                           location=location, item=item, sku=sku, log_columns=log,
                           location_column=column(package, "location"))


def _load_one(number: str, token: ApiToken | None, *, lock: bool) -> Package:
    """``_lock(number=…, packages=<token's scope>)`` in plain SQL, with the items prefetched
    (as the API's ``packages=…prefetch_related(items)`` does), brand and location joined; the
    row locked (``FOR UPDATE OF`` the package where the database has it) when ``lock``. On
    PostgreSQL the transition log comes in the same statement and is prefetched too
    (``transitions``, in id order). Raises ``Package.DoesNotExist`` for an unknown number or
    one outside ``token``'s scope."""
    sql = _one_sql()
    scope, params = api_token_scope_sql(token, sql.location_column)
    statement = sql.read + scope
    if lock and connection.features.has_select_for_update:
        statement += (f" FOR UPDATE OF {sql.package.table}" if connection.features.has_select_for_update_of
                      else " FOR UPDATE")
    with connection.cursor() as cursor:
        row_sql.execute(cursor, statement, [number, *params])
        row = cursor.fetchone()
        if row is None:
            raise Package.DoesNotExist("Package matching query does not exist.")
        package = sql.package.build(row)
        at = len(sql.package)
        Package.brand.field.set_cached_value(package, sql.brand.build(row, at))
        at += len(sql.brand)
        Package.location.field.set_cached_value(package, sql.location.build(row, at))
        at += len(sql.location)
        if package.status not in _REPLACED_STATES:
            Package.replacement.related.set_cached_value(package, None)
        items = []
        if sql.joined:
            for values in row[at] or ():
                item = sql.item.build_json(values[:len(sql.item)])
                PackageItem.sku.field.set_cached_value(item, sql.sku.build_json(values[len(sql.item):]))
                items.append(item)
            row_sql.set_prefetched(package, "transitions",
                                   [sql.log_columns.build_json(values) for values in row[at + 1] or ()])
        else:
            cursor.execute(sql.items, [package.pk])
            for item_row in cursor.fetchall():
                item = sql.item.build(item_row)
                PackageItem.sku.field.set_cached_value(item, sql.sku.build(item_row, len(sql.item)))
                items.append(item)
    row_sql.set_prefetched(package, "items", items)
    return package


def package_transition(*, action: str, number: str, actor: Actor, token: ApiToken | None = None,
                       **kwargs) -> Package:
    """Run ``action`` (one of ``BULK_TRANSITION_ACTIONS``: no stock effects) on package
    ``number``: the same rules, writes and result as ``ACTION_SERVICES[action](number=number,
    packages=<token's scope>, actor=actor, **kwargs)`` with the items prefetched, in plain SQL.

    ``kwargs`` are the action's single-service keyword arguments (e.g. ``carrier``,
    ``tracking_number`` for ship); ``token`` bounds the packages by its stock locations as
    ``oms.api_tokens.api_token_scope`` does (None: any package).

    The package is read by number (``_load_one``: brand and location joined, items with their
    SKU); then ``_check`` (actor kind, brand switch, source state, delivery type), the input
    checked as the bulk path checks it (``_BULK_RULES``, the single service's checks), the
    django-fsm transition on the instance; then one ``UPDATE`` of the columns the single
    service saves (``status``, ``version`` +1, ``updated_at``, ``status_changed_at`` when the
    state changed, the action's own), one ``PackageTransition`` row and one
    ``package.status.transitioned`` outbox event with ``package_event_payload`` (handed on
    after commit). The statements are built once per process from the models' metadata
    (``_one_sql``, ``oms.row_sql``), not by the ORM per call.

    On PostgreSQL optimistically, in 2 round trips and without a transaction of its own: the
    row read without a lock (its log with it), then one statement that updates the row only if
    its ``version`` is still the one read and only then inserts the log row and the event
    (``row_sql.execute_guarded``): all or nothing, and no lost update, since every change of a
    package raises its version. If another writer got there in between, nothing was written
    and the action runs again the locking way, on the row as it is now. That way (and
    elsewhere than PostgreSQL): one transaction (a savepoint inside the caller's), the row
    locked by number, the three writes.

    Returns the saved package (brand, location, items with SKUs cached; on PostgreSQL its
    transition log too, the new row last). Raises ``Package.DoesNotExist`` (unknown or
    outside the scope), ``ActorNotPermitted``, ``ActionNotAllowed``, ``InvalidInput`` as the
    single service does, nothing written; ValueError for an action not in
    ``BULK_TRANSITION_ACTIONS``; TypeError for keyword arguments the action does not take;
    ``DatabaseError`` as the database reports it.
    """
    if action not in _BULK_RULES:
        raise ValueError(f"{action!r} has stock effects or other reads under the lock; "
                         "use its single service")
    if connection.vendor == "postgresql":
        package = _load_one(number, token, lock=False)
        read_version = package.version
        update_fields, log_values, inserts = _transition_writes(package, action, actor, kwargs)
        found = row_sql.execute_guarded([
            row_sql.update_statement(package, update_fields, expect={"version": read_version}), *inserts])
        if found is not None:
            return _transition_done(package, actor, log_values, found)
    with transaction.atomic():
        package = _load_one(number, token, lock=True)
        update_fields, log_values, inserts = _transition_writes(package, action, actor, kwargs)
        found = row_sql.execute_statements([row_sql.update_statement(package, update_fields), *inserts])
        return _transition_done(package, actor, log_values, found)


def _transition_writes(package: Package, action: str, actor: Actor,
                       kwargs: dict) -> tuple[list[str], dict, list[row_sql.Statement]]:
    """Check and run ``action`` on the read ``package`` (``package_transition``); return the
    fields to update, the log row's values and the log row's and event's ``INSERT``
    statements. Raises as ``package_transition``."""
    fields, prepare = _BULK_RULES[action]
    _check(package, action, actor)
    transition_kwargs, reason, payload = prepare(package, **kwargs)
    from_status = package.status
    getattr(package, action)(**transition_kwargs)
    now = timezone.now()
    package.version += 1
    package.updated_at = now
    update_fields = {"status", "version", "updated_at", *fields}
    if package.status != from_status:
        package.status_changed_at = now
        update_fields.add("status_changed_at")
    log_values = {
        "package": package.pk, "from_status": from_status, "to_status": package.status,
        "action": action, "actor": str(actor)[:150], "actor_user": actor.user_id,
        "reason": reason[:255], "payload": payload or {}, "created_at": now}
    return sorted(update_fields), log_values, [
        row_sql.insert_statement(PackageTransition, log_values, returning_pk=True),
        event_insert_statement(
            type="package.status.transitioned", aggregate_type="package", aggregate_id=package.pk,
            payload=package_event_payload(package, action=action, from_status=from_status,
                                          actor=actor, reason=reason))]


def _transition_done(package: Package, actor: Actor, log_values: dict, found: list) -> Package:
    """After the writes of ``package_transition``: queue the event's hand-off (after commit)
    and, when the log came with the read, add the row just written to it."""
    _, (log_id,), (event_id,) = found
    events_hand_on_after_commit([event_id])
    log = getattr(package, "_prefetched_objects_cache", {}).get("transitions")
    if log is not None:
        row = PackageTransition(id=log_id, package_id=package.pk, actor_user_id=actor.user_id,
                                **{k: v for k, v in log_values.items() if k not in ("package", "actor_user")})
        row._state.adding, row._state.db = False, connection.alias
        row_sql.set_prefetched(package, "transitions", [*log, row])
    return package


def package_log_prefetch(package: Package) -> Package:
    """Read ``package``'s transition log (1 query, in id order) into its prefetched
    ``transitions``, as ``prefetch_related(Prefetch("transitions", …order_by("id")))`` would.
    Returns ``package``."""
    sql = _one_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql.log, [package.pk])
        rows = cursor.fetchall()
    row_sql.set_prefetched(package, "transitions", [sql.log_columns.build(row) for row in rows])
    return package


@transaction.atomic
def brand_update(*, brand: Brand, **changes) -> Brand:
    """Save changed settings of ``brand`` (admin, API).

    ``changes`` are Brand field values. A new ``recheck_interval_minutes`` applies at once:
    the next check of the brand's out-of-stock packages moves to their last check plus the
    new interval (packages never checked become due now).
    Raises ``django.core.exceptions.ValidationError`` for invalid values (e.g. an unknown
    action in ``disabled_actions``).
    """
    old_interval = (Brand.objects.filter(pk=brand.pk).values_list("recheck_interval_minutes", flat=True)
                    .first() if brand.pk else None)
    for name, value in changes.items():
        setattr(brand, name, value)
    brand.full_clean()
    brand.save()
    if old_interval is not None and old_interval != brand.recheck_interval_minutes:
        waiting = Package.objects.filter(brand=brand, status=Status.PRODUCT_OUT_OF_STOCK)
        interval = dt.timedelta(minutes=brand.recheck_interval_minutes)
        waiting.filter(stock_checked_at__isnull=False).update(
            next_stock_check_at=F("stock_checked_at") + interval)
        waiting.filter(stock_checked_at__isnull=True).update(next_stock_check_at=timezone.now())
    return brand
