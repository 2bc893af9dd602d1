"""Bring imported packages to life: drive them through every state with the real services.

Nothing here writes a status column: every change is an action run through the engine (lock,
log row, outbox event), as the actor the state table names (operator, carrier feed, invoice
service, system), on many packages per call. Choices are deterministic (packages taken in
ship-by order), so two installs of the same data show the same picture. With a few thousand
imported packages (the generated demo data, the Olist sample) every package state and every
transfer state is reached; ``DemoReport.missing_states`` says which were not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, F
from django.utils import timezone

from locations.models import StockLevel, StockLocation
from locations.services import stock_level_set, stock_location_save
from oms.actions.actors import Actor
from oms.actions.engine import Entry
from oms.actions.errors import OmsError
from packages.creation import ItemInput, package_create
from packages.engine import package_act
from packages.models import Brand, DenialReason, Package, PackageItem, PackageTransition, Status
from transfers.engine import transfer_act
from transfers.models import Status as TransferStatus
from transfers.models import Transfer

OPERATOR = Actor("user", "demo-operator")
CARRIER_FEED = Actor("api", "carrier-feed")
INVOICE_SERVICE = Actor("system", "invoice-service")
SYSTEM = Actor("system", "system")

DEMO_BRAND = "olist"
DENIAL_REASONS = ["No packing capacity today", "Staff shortage", "Location closed for inventory"]


@dataclass
class DemoReport:
    """What the demo did: actions run per name, refusals, final package counts per state."""

    actions: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    status_counts: dict[int, int] = field(default_factory=dict)
    transfer_counts: dict[str, int] = field(default_factory=dict)
    skipped: str = ""

    @property
    def missing_states(self) -> list[str]:
        """Labels of the package and transfer states nothing is in after the run."""
        return ([str(Status(code).label) for code in Status.values if not self.status_counts.get(code)]
                + [f"transfer {TransferStatus(slug).label}" for slug in TransferStatus.values
                   if not self.transfer_counts.get(slug)])

    def lines(self) -> list[str]:
        if self.skipped:
            return [self.skipped]
        out = [f"Demo actions run: {sum(self.actions.values())}"]
        out += [f"  {name}: {n}" for name, n in sorted(self.actions.items())]
        out.append("Packages by state:")
        out += [f"  {Status(code).label:<38} {n:>6}" for code, n in sorted(self.status_counts.items())]
        if self.transfer_counts:
            out.append("Transfers by state:")
            out += [f"  {slug:<38} {n:>6}" for slug, n in sorted(self.transfer_counts.items())]
        if self.missing_states:
            out.append(f"States not reached (too little data): {', '.join(self.missing_states)}")
        if self.refused:
            out.append(f"Refused along the way ({len(self.refused)}; expected when stock is short):")
            out += [f"  {line}" for line in self.refused[:10]]
        return out


class DemoNotReady(Exception):
    """The demo has nothing to drive: no brand or no Pending package to start from."""


class _Runner:
    """Runs actions on many packages at once: one engine call (one transaction) per action."""

    def __init__(self, report: DemoReport):
        self.report = report

    def act(self, action: str, package_ids: list[int], actor: Actor,
            inputs: Callable[[int], dict] | dict | None = None) -> list[int]:
        """Run ``action`` on ``package_ids``; return the ids it ran on (refusals are reported)."""
        if not package_ids:
            return []
        given = inputs if callable(inputs) else (lambda pk: dict(inputs or {}))
        entries = [Entry(pk, given(pk)) for pk in package_ids]
        try:
            outcomes = package_act(action, entries, actor=actor)
        except OmsError as exc:  # a follow-up refused: the call rolled back
            if len(package_ids) == 1:
                self.report.refused.append(f"{action} on package id {package_ids[0]}: {exc.detail}")
                return []
            return [pk for pk in package_ids if self.act(action, [pk], actor, given)]
        done = []
        for outcome in outcomes:
            if outcome.done:
                done.append(outcome.key)
            else:
                detail = outcome.error.detail if outcome.error else "not found"
                self.report.refused.append(f"{action} on package id {outcome.key}: {detail}")
        self.report.actions[action] += len(done)
        return done

    def chain(self, package_ids: list[int], steps: list[tuple]) -> list[int]:
        """Run ``steps`` (action, actor, inputs) in turn; a package refused once stops there.
        Returns the ids that ran every step."""
        for action, actor, inputs in steps:
            package_ids = self.act(action, package_ids, actor, inputs)
        return package_ids


def _invoice(pk: int) -> dict:
    return {"invoice_number": f"NFE-{pk:08d}", "invoice_date": timezone.localdate()}


START = ("start_preparing", OPERATOR, None)
PACK = ("complete_packaging", OPERATOR, None)
SHIP = ("ship", OPERATOR, lambda pk: {"carrier": "Correios", "tracking_number": f"BR{pk:09d}SP"})
LABEL = ("confirm_label_printed", OPERATOR, None)
INVOICE = ("attach_invoice", INVOICE_SERVICE, _invoice)
ATTEMPT = ("record_delivery_attempt", CARRIER_FEED, None)
TO_SHIPPED = [START, PACK, SHIP, LABEL, INVOICE]

# (how many packages, the state they rest in, the steps that bring them there), taken in
# ship-by order: the earliest have left, the next are being worked on.
PLAN: list[tuple[int, Status, list[tuple]]] = [
    (200, Status.DELIVERED, [*TO_SHIPPED, ("mark_delivered", CARRIER_FEED, None)]),
    (80, Status.SHIPPED, TO_SHIPPED),
    (25, Status.DELIVERY_ATTEMPTED, [*TO_SHIPPED, ATTEMPT]),
    (20, Status.DELIVERY_FAILED,
     [*TO_SHIPPED, ATTEMPT,
      ("mark_delivery_failed", CARRIER_FEED, {"reason": "Recipient absent three times"})]),
    (40, Status.PENDING_INVOICE, TO_SHIPPED[:4]),
    (40, Status.PENDING_SHIPPING_LABEL, TO_SHIPPED[:3]),
    (60, Status.PACKAGING_COMPLETED, TO_SHIPPED[:2]),
    (150, Status.IN_PROGRESS, TO_SHIPPED[:1]),
    (25, Status.PENDING_CANCELLATION,
     [START, ("request_cancellation", OPERATOR, {"reason": "Customer cancelled the order"})]),
    (40, Status.CANCELED, [("cancel", OPERATOR, {"reason": "Customer cancelled before picking"})]),
]
MISSING, DEFECTIVE, REFUSED, REASSIGNED = 20, 15, 30, 8
RESCHEDULED, CLICK_AND_COLLECT = 25, 12


def demo_run(*, brand_slug: str = DEMO_BRAND) -> DemoReport:
    """Run the demo once over the imported Pending packages of ``brand_slug``; a second call
    does nothing (``report.skipped`` says so).

    Returns a ``DemoReport``; ``report.missing_states`` names the package and transfer states
    no package or transfer reached (too little data). Raises ``DemoNotReady`` when the brand
    does not exist or has no Pending package (nothing imported yet).
    """
    report = DemoReport()
    if PackageTransition.objects.filter(actor=str(OPERATOR)).exists():
        report.skipped = "Demo already ran on this database; nothing to do."
        return report
    brand = Brand.objects.filter(slug=brand_slug).first()
    pending = list(
        Package.objects.filter(brand=brand, status=Status.PENDING, replaces__isnull=True)
        .order_by("ship_by", "pk").values_list("pk", flat=True)
    ) if brand is not None else []
    if not pending:
        raise DemoNotReady(
            f"No Pending packages of brand '{brand_slug}' to drive. Load data first: "
            "`scripts/manage load_demo` (generates a demo data set and runs the demo) or "
            "`scripts/manage import_olist DIR` (DIR: your download of the Olist data), "
            "then `scripts/manage demo`.")
    runner = _Runner(report)
    cursor = 0
    for count, _state, steps in PLAN:
        runner.chain(pending[cursor:cursor + count], steps)
        cursor += count

    # Product Not Found / Defective Product: cancel and replace (replacement Pending or 920).
    missing = pending[cursor:cursor + MISSING]
    cursor += MISSING
    defective = pending[cursor:cursor + DEFECTIVE]
    cursor += DEFECTIVE
    first_sku = _first_sku_codes(missing + defective)
    runner.act("report_missing", missing, OPERATOR, lambda pk: {"items": {first_sku[pk]: 1}})
    runner.act("report_defective", defective, OPERATOR, lambda pk: {"items": {first_sku[pk]: 1}})

    # Refused by the location -> To Be Rescheduled; a few re-planned elsewhere.
    reasons = [DenialReason.objects.get_or_create(title=t)[0].pk for t in DENIAL_REASONS]
    refused = pending[cursor:cursor + REFUSED]
    cursor += REFUSED
    runner.act("refuse", refused, OPERATOR,
               lambda pk: {"denial_reason_id": reasons[refused.index(pk) % len(reasons)]})
    _reassign_some(runner, refused[:REASSIGNED])

    # Stock arrives for some out-of-stock packages; the operator reschedules them.
    _restock_and_reschedule(runner, limit=RESCHEDULED)
    _click_and_collect(runner, brand, limit=CLICK_AND_COLLECT)
    _transfers(runner, brand)

    report.status_counts = dict(
        Package.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    report.transfer_counts = dict(
        Transfer.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    return report


def _first_sku_codes(package_ids: list[int]) -> dict[int, str]:
    """``{package id: SKU code of its first item}``. 1 query."""
    codes: dict[int, str] = {}
    for package_id, code in (PackageItem.objects.filter(package_id__in=package_ids)
                             .order_by("package_id", "pk").values_list("package_id", "sku__code")):
        codes.setdefault(package_id, code)
    return codes


def _reassign_some(runner: _Runner, package_ids: list[int]) -> None:
    """Re-plan refused packages to the location holding the most free units of their first SKU."""
    targets = {}
    for package in Package.objects.filter(pk__in=package_ids).order_by("pk"):
        sku_id = package.items.order_by("pk").values_list("sku_id", flat=True).first()
        target = (
            StockLevel.objects.filter(sku_id=sku_id, location__is_active=True)
            .exclude(location_id=package.location_id)
            .annotate(free=F("on_hand") - F("reserved")).order_by("-free", "pk")
            .values_list("location__code", flat=True).first()
        )
        if target is None:
            target = (StockLocation.objects.exclude(pk=package.location_id)
                      .order_by("code").values_list("code", flat=True).first())
        targets[package.pk] = target
    runner.act("reassign_location", list(targets), OPERATOR, lambda pk: {"location_code": targets[pk]})


def _restock_and_reschedule(runner: _Runner, *, limit: int) -> None:
    waiting = list(Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK)
                   .select_related("location").order_by("status_changed_at", "pk")[:limit])
    for package in waiting:
        for item in package.items.select_related("sku"):
            level, _ = StockLevel.objects.get_or_create(location=package.location, sku=item.sku)
            if level.available < item.quantity:
                stock_level_set(location=package.location, sku=item.sku,
                                on_hand=level.on_hand + item.quantity - level.available)
    runner.act("reschedule", [package.pk for package in waiting], OPERATOR)


def _free_stock(exclude_location_ids=(), limit=50):
    return (StockLevel.objects.filter(on_hand__gt=F("reserved"), location__is_active=True)
            .exclude(location_id__in=list(exclude_location_ids))
            .select_related("location", "sku").order_by("pk")[:limit])


def _click_and_collect(runner: _Runner, brand: Brand, *, limit: int) -> None:
    """Stores with a pickup counter take a few click-and-collect orders: some are collected."""
    created = []
    for i, level in enumerate(_free_stock(limit=limit)):
        location = level.location
        if not location.is_pickup_point:
            stock_location_save(location=location, is_pickup_point=True, kind=StockLocation.Kind.STORE)
        package = package_create(
            order_number=f"DEMO-CC-{i + 1:04d}", brand=brand, location=location,
            delivery_type=Package.DeliveryType.CLICK_AND_COLLECT,
            items=[ItemInput(sku=level.sku, quantity=1)], actor=OPERATOR,
        )
        runner.report.actions["create"] += 1
        created.append(package.pk)
    ready = runner.chain(created, [START, PACK, ("mark_ready_for_pickup", OPERATOR, None)])
    runner.act("hand_over", ready[::3], OPERATOR)


# Transfers to make, by the state they rest in, and the actions that bring them there.
TRANSFER_PLAN: list[tuple[int, TransferStatus, list[str]]] = [
    (14, TransferStatus.TRANSFERRED, ["ready_for_dispatch", "dispatch", "receive"]),
    (6, TransferStatus.IN_TRANSIT, ["ready_for_dispatch", "dispatch"]),
    (5, TransferStatus.READY_TO_SHIPMENT, ["ready_for_dispatch"]),
    (5, TransferStatus.WAITING, []),
    (3, TransferStatus.CANCELLATION_WAITING, ["ready_for_dispatch", "request_cancellation"]),
    (3, TransferStatus.CANCELLED, ["cancel"]),
]


def _transfers(runner: _Runner, brand: Brand) -> None:
    """Orders placed where the SKU is not: transfers bring it, in every transfer state."""
    levels = list(_free_stock(limit=400))
    # destination: another location of the same region that has none of the SKU
    region_locations: dict[str, list[StockLocation]] = {}
    for location in StockLocation.objects.filter(is_active=True, can_package=True).order_by("code"):
        region_locations.setdefault(location.region, []).append(location)
    wanted = sum(count for count, _, _ in TRANSFER_PLAN)
    packages: list[int] = []
    for level in levels:
        if len(packages) >= wanted:
            break
        candidates = [loc for loc in region_locations.get(level.location.region, [])
                      if loc.pk != level.location_id]
        if not candidates:
            continue
        destination = candidates[len(packages) % len(candidates)]
        if StockLevel.objects.filter(location=destination, sku=level.sku, on_hand__gt=F("reserved")).exists():
            continue
        package = package_create(
            order_number=f"DEMO-TR-{len(packages) + 1:04d}", brand=brand, location=destination,
            items=[ItemInput(sku=level.sku, quantity=1)], actor=OPERATOR,
        )
        runner.report.actions["create"] += 1
        if package.status == Status.PENDING_TRANSFER:
            packages.append(package.pk)
    cursor = 0
    for count, goal, actions in TRANSFER_PLAN:
        group = packages[cursor:cursor + count]
        cursor += count
        transfer_ids = list(Transfer.objects.filter(package_id__in=group).order_by("pk")
                            .values_list("pk", flat=True))
        for action in actions:
            outcomes = transfer_act(action, [Entry(pk) for pk in transfer_ids], actor=OPERATOR)
            transfer_ids = [outcome.key for outcome in outcomes if outcome.done]
            runner.report.actions[f"transfer.{action}"] += len(transfer_ids)
            runner.report.refused += [f"transfer {action}: {outcome.error.detail}"
                                      for outcome in outcomes if outcome.error is not None]
        if goal == TransferStatus.TRANSFERRED:
            # some packages that got their transfers are packed right away
            runner.act("complete_packaging", group[1::2], OPERATOR)
