"""Creating packages (state-machine.md, "New packages start …"): one at a time
(``package_create``: API, replacements) or many set-based (``package_create_many``: imports,
bulk order intake).

Where a package starts is planned by ``packages.planning``: at the location given, or where
the brand's planning rules choose; Pending where the location has every item (reserved) and
room, Pending Transfer where transfers can bring the rest, else Product Out of Stock (holding
nothing, stamped for the automatic re-check).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
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
from oms.actions.errors import InvalidInput, OmsError
from oms.actions.log import transition_record
from oms.events.outbox import events_publish_many
from packages.events import EVENT_PREFIX, PACKAGE_CREATED, package_event_payload
from packages.models import Brand, Package, PackageItem, PackageTransition, Status
from packages.planning import NoLocation, PackagePlanner, given_location_record, shortage_text


@dataclass(frozen=True)
class ItemInput:
    """A line to put in a new package: ``quantity`` units of ``sku`` (a ``Sku``)."""

    sku: Sku
    quantity: int
    unit_price: Decimal | None = None
    freight_value: Decimal | None = None




def out_of_stock_values(brand: Brand, reason: str, *, now: dt.datetime | None = None) -> dict:
    """The re-check fields of a package that is (still) Product Out of Stock: ``reason`` is
    what it waits for (``shortage_text`` of its shortages, or a full location)."""
    now = now or timezone.now()
    return {"stock_checked_at": now, "stock_shortage": reason[:500],
            "next_stock_check_at": now + dt.timedelta(minutes=brand.recheck_interval_minutes)}


def out_of_stock_fields(package: Package, reason: str) -> list[str]:
    """Stamp ``out_of_stock_values`` on ``package``; return the names of the fields set."""
    values = out_of_stock_values(package.brand, reason)
    for name, value in values.items():
        setattr(package, name, value)
    return list(values)


def _next_number(order_number: str) -> str:
    n = Package.objects.filter(order_number=order_number).count() + 1
    while Package.objects.filter(number=f"{order_number}-{n}").exists():
        n += 1
    return f"{order_number}-{n}"


ORDER_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
TRACKING_NUMBER_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: fits Code 128


def _validated_lines(*, location: StockLocation | None, items: Sequence[ItemInput],
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
    if location is not None and not (location.is_active and location.can_package):
        raise InvalidInput(f"Location {location.code} cannot package", field="location")
    lines: dict[int, int] = {}
    for item in items:
        if item.quantity < 1:
            raise InvalidInput(f"Quantity of SKU {item.sku.code} must be >= 1", field="items")
        if item.sku.pk in lines:
            raise InvalidInput(f"SKU {item.sku.code} appears twice", field="items")
        lines[item.sku.pk] = item.quantity
    return lines


def _insert_package(*, number: str | None, order_number: str, external_ref: str | None,
                    items: Sequence[ItemInput], **fields) -> Package:
    """Insert a package row and its items; ``number`` defaults to ``"<order_number>-<n>"``
    (retried when another package took it meanwhile). Raises InvalidInput for a number or an
    external_ref that exists."""
    package = None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                package = Package.objects.create(
                    number=number or _next_number(order_number), order_number=order_number,
                    external_ref=external_ref, **fields)
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
    return package


@retry_on_deadlock
@transaction.atomic
def package_create(*, order_number: str, brand: Brand, location: StockLocation | None = None,
                   items: Sequence[ItemInput], actor: Actor,
                   delivery_type: str = Package.DeliveryType.SHIP, delivery_region: str = "",
                   ship_by: dt.datetime | None = None, number: str | None = None,
                   external_ref: str | None = None, replaces: Package | None = None,
                   allow_transfers: bool = True, within: Collection[int] | None = None,
                   exclude_location_ids: Collection[int] = (), split_from: Package | None = None,
                   closing_location_id: int | None = None) -> Package:
    """Create a package, plan where it goes and hold its stock there (state-machine.md: "New
    packages start …"; ``packages.planning``).

    With ``location`` the package goes there: Pending when it has every item available
    (units reserved) and room for one more open package, Pending Transfer when transfers can
    bring the rest, else Product Out of Stock. Without, the brand's planning rules choose
    among the active packaging locations (``within`` them when given, never
    ``exclude_location_ids``). ``allow_transfers=False`` keeps it to Pending / Product Out of
    Stock (replacement packages). ``number`` defaults to ``"<order_number>-<n>"``. The
    planning record goes to ``Package.planning``. Writes a ``create`` log row and a
    ``package.created`` event. ``replaces`` / ``split_from``: the package this one replaces
    or was split off from (linked, named in the log row); ``closing_location_id``: see
    ``PackagePlanner``.

    Raises:
        InvalidInput: no items, a quantity < 1, a SKU twice, an inactive or non-packaging
            location, an unknown delivery type (``extra["field"]`` names the field).
        NoLocation: no location given and none can take the brand's packages (409).
    """
    lines = _validated_lines(location=location, items=items, delivery_type=delivery_type,
                             order_number=order_number)
    if external_ref and Package.objects.filter(external_ref=external_ref).exists():
        raise InvalidInput(f"A package with external_ref {external_ref} exists", field="external_ref")
    planner = PackagePlanner(
        brand=brand, lines=lines, delivery_type=delivery_type, region=delivery_region,
        locations=[location] if location is not None else None, within=within,
        exclude_location_ids=exclude_location_ids, closing_location_id=closing_location_id,
        codes={item.sku.pk: item.sku.code for item in items})
    row = None
    fields = {"brand": brand, "delivery_type": delivery_type, "delivery_region": delivery_region,
              "ship_by": ship_by, "replaces": replaces, "split_from": split_from}

    def package_row(at: StockLocation) -> Package:
        # transfers point to the package: insert it now, not yet open (no slot taken)
        nonlocal row
        if row is None:
            row = _insert_package(number=number, order_number=order_number, external_ref=external_ref,
                                  items=items, location=at, status=Status.PRODUCT_OUT_OF_STOCK, **fields)
        row.location = at
        return row

    placement = planner.place(actor, package_row=package_row, allow_transfers=allow_transfers)
    placed = {"status": placement.status, "location": placement.location, "planning": placement.record}
    if placement.status == Status.PRODUCT_OUT_OF_STOCK:
        placed.update(out_of_stock_values(brand, placement.reason))
    if row is None:
        package = _insert_package(number=number, order_number=order_number, external_ref=external_ref,
                                  items=items, **fields, **placed)
    else:
        # Not a transition: the row was inserted a moment ago in this transaction and gets
        # its starting state before anyone can see it.
        Package.objects.filter(pk=row.pk).update(**placed)
        # read anew: django-fsm's refresh_from_db lifts the status's protection for the whole
        # class, which races with other threads
        package = Package.objects.select_related("brand", "location", "replaces", "split_from").get(
            pk=row.pk)
    return transition_record(
        package, log_model=PackageTransition, log_fk="package", action="create",
        from_status=None, actor=actor, event_prefix="package", event_payload=package_event_payload,
        reason=placement.reason,
        payload={**({"replaces": replaces.number} if replaces else {}),
                 **({"split_from": split_from.number} if split_from else {})})


@dataclass(frozen=True)
class PackageSpec:
    """One package to create with ``package_create_many`` (same fields as ``package_create``)."""

    order_number: str
    brand: Brand
    location: StockLocation | None  # None: the brand's planning rules choose
    items: Sequence[ItemInput]
    number: str
    delivery_type: str = Package.DeliveryType.SHIP
    ship_by: dt.datetime | None = None
    external_ref: str | None = None
    delivery_region: str = ""


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
    stock first): a package whose location holds every item and has room starts Pending with
    its units reserved; a short package that the free units of all active locations together
    cannot complete starts Product Out of Stock; the others (and those without a location,
    which the brand's rules plan) go through ``package_create`` one by one afterwards.
    Every stock row involved is locked in one query, in primary-key order, then the rows of
    the locations with a capacity; packages, items, log rows and ``package.created`` events
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
    to_plan = []  # specs package_create places, after the set-based ones
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
        if spec.location is None:
            to_plan.append(index)
        else:
            valid.append((index, spec, lines))

    available = _lock_available({(spec.location.pk, sku_id) for _, spec, lines in valid for sku_id in lines})
    slots = stock.CapacityLedger({spec.location.pk for _, spec, _ in valid})
    placed, slow, added = [], [], defaultdict(int)
    for index, spec, lines in valid:
        rows = [(available.get((spec.location.pk, sku_id)), quantity) for sku_id, quantity in lines.items()]
        if all(row is not None and row[1] >= quantity for row, quantity in rows):
            try:
                slots.take(spec.location.pk)
            except stock.LocationFull:
                to_plan.append(index)  # planned as Product Out of Stock there, with the reason
                continue
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

    for index in sorted(to_plan):
        spec = specs[index]
        try:
            package = package_create(
                order_number=spec.order_number, brand=spec.brand, location=spec.location,
                items=spec.items, actor=actor, delivery_type=spec.delivery_type,
                delivery_region=spec.delivery_region, ship_by=spec.ship_by, number=spec.number,
                external_ref=spec.external_ref)
        except (InvalidInput, NoLocation) as exc:
            results[index] = exc
            continue
        results[index] = package if instances else CreatedPackage(package.pk, package.number,
                                                                  package.status)
    return results


def _placed_fields(spec: PackageSpec, status: Status, reason: str, now: dt.datetime) -> dict:
    """Field values of a package ``package_create_many`` places without planning transfers."""
    fields = {"number": spec.number, "order_number": spec.order_number, "brand": spec.brand,
              "location": spec.location, "delivery_type": spec.delivery_type,
              "delivery_region": spec.delivery_region,
              "ship_by": spec.ship_by, "external_ref": spec.external_ref, "status": status,
              "status_changed_at": now, "placed_at": now,
              "stock_checked_at": None, "next_stock_check_at": None, "stock_shortage": "",
              "planning": given_location_record(spec.location.code, status, reason, now=now,
                                                region=spec.delivery_region)}
    if status == Status.PRODUCT_OUT_OF_STOCK:
        fields.update(out_of_stock_values(spec.brand, reason, now=now))
    return fields


def _created_event(package, spec: PackageSpec, reason: str, actor: Actor) -> tuple[str, str, int, dict]:
    """The ``package.created`` event of a package placed by ``package_create_many``."""
    return (PACKAGE_CREATED, EVENT_PREFIX, package.pk, package_event_payload(
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
                                    replaces_id=None, split_from_id=None, **row)
                    for pk, row in zip(ids, rows, strict=True)]
    events_publish_many([_created_event(package, spec, reason, actor)
                         for package, (_, spec, _, reason) in zip(packages, placed, strict=True)],
                        instances=False)
    if instances:
        return packages
    return [CreatedPackage(pk, number, status)
            for pk, number, status in zip(ids, columns["number"], columns["status"], strict=True)]


# --- actions -----------------------------------------------------------------------------
