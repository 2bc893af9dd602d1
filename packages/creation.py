"""Creating packages and placing them at a stock location (state-machine.md, "New packages
start …"): one at a time (``package_create``: API, replacements, reassignment) or many
set-based (``package_create_many``: imports, bulk order intake).

Placing reserves the units where the location has them all (Pending); else plans
transfers from other locations for the rest (Pending Transfer); else holds nothing
(Product Out of Stock, stamped for the automatic re-check).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from locations import services as stock
from locations.models import Sku, StockLevel, StockLocation
from oms import bulk_sql
from oms.actions.actors import Actor
from oms.actions.db import retry_on_deadlock
from oms.actions.errors import InsufficientStock, InvalidInput, OmsError
from oms.actions.log import transition_record
from oms.events.outbox import events_publish_many
from packages.events import package_event_payload
from packages.models import Brand, Package, PackageItem, PackageTransition, Status
from transfers.services import transfers_create_for_package


@dataclass(frozen=True)
class ItemInput:
    """A line to put in a new package: ``quantity`` units of ``sku`` (a ``Sku``)."""

    sku: Sku
    quantity: int
    unit_price: Decimal | None = None
    freight_value: Decimal | None = None




def place(package: Package, lines: Mapping[int, int], actor: Actor, *,
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


def out_of_stock_fields(package: Package, shortages: Sequence[dict]) -> list[str]:
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
    status, shortages = place(package, lines, actor, allow_transfers=allow_transfers)
    if status != Status.PENDING:
        # Not a transition: the row was inserted a moment ago in this transaction and
        # gets its starting state before anyone can see it.
        extra = {}
        if status == Status.PRODUCT_OUT_OF_STOCK:
            extra = {f: getattr(package, f) for f in out_of_stock_fields(package, shortages)}
        Package.objects.filter(pk=package.pk).update(status=status, **extra)
        # read anew: django-fsm's refresh_from_db lifts the status's protection for the whole
        # class, which races with other threads
        package = Package.objects.select_related("brand", "location", "replaces").get(pk=package.pk)
    reason = shortage_text(shortages)
    return transition_record(
        package, log_model=PackageTransition, log_fk="package", action="create",
        from_status=None, actor=actor, event_prefix="package", event_payload=package_event_payload,
        reason=reason, payload={"replaces": replaces.number} if replaces else {})


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
                                    invoice_number="", invoice_date=None, blocked_at=None,
                                    replaces_id=None, **row)
                    for pk, row in zip(ids, rows, strict=True)]
    events_publish_many([_created_event(package, spec, reason, actor)
                         for package, (_, spec, _, reason) in zip(packages, placed, strict=True)],
                        instances=False)
    if instances:
        return packages
    return [CreatedPackage(pk, number, status)
            for pk, number, status in zip(ids, columns["number"], columns["status"], strict=True)]


# --- actions -----------------------------------------------------------------------------
