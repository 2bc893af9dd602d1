"""Bring imported packages to life: drive them through every state with the real services.

Nothing here writes a status column: every change is an action service (lock, log row,
outbox event), run as the actor the state table names (operator, carrier feed, invoice
service, system). Choices are deterministic (packages taken in ship-by order), so two
fresh installs show the same picture.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, F

from locations.models import StockLevel, StockLocation
from locations.services import stock_level_set, stock_location_save
from oms.actions.actors import Actor
from oms.actions.errors import OmsError
from packages.creation import ItemInput, package_create
from packages.engine import package_run
from packages.models import Brand, DenialReason, Package, PackageTransition, Status
from transfers.engine import transfer_run
from transfers.models import Transfer

OPERATOR = Actor("user", "demo-operator")
CARRIER_FEED = Actor("api", "carrier-feed")
INVOICE_SERVICE = Actor("system", "invoice-service")
SYSTEM = Actor("system", "system")

DENIAL_REASONS = ["No packing capacity today", "Staff shortage", "Location closed for inventory"]


@dataclass
class DemoReport:
    """What the demo did: actions run per name, refusals, final package counts per state."""

    actions: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    status_counts: dict[int, int] = field(default_factory=dict)
    transfer_counts: dict[str, int] = field(default_factory=dict)
    skipped: str = ""

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
        if self.refused:
            out.append(f"Refused along the way ({len(self.refused)}; expected when stock is short):")
            out += [f"  {line}" for line in self.refused[:10]]
        return out


class _Runner:
    def __init__(self, report: DemoReport):
        self.report = report

    def run(self, action: str, package_id: int, actor: Actor, **kwargs) -> Package | None:
        try:
            result = package_run(action, package_id=package_id, actor=actor, **kwargs)
        except OmsError as exc:
            self.report.refused.append(f"{action} on package id {package_id}: {exc.detail}")
            return None
        self.report.actions[action] += 1
        return result

    def chain(self, package_id: int, steps: list[tuple]) -> bool:
        for action, actor, kwargs in steps:
            if self.run(action, package_id, actor, **kwargs) is None:
                return False
        return True


def _to_shipped(n: int) -> list[tuple]:
    return [
        ("start_preparing", OPERATOR, {}),
        ("complete_packaging", OPERATOR, {}),
        ("ship", OPERATOR, {"carrier": "Correios", "tracking_number": f"BR{n:09d}SP"}),
        ("confirm_label_printed", OPERATOR, {}),
        ("attach_invoice", INVOICE_SERVICE,
         {"invoice_number": f"NFE-{n:08d}", "invoice_date": dt.date(2026, 11, 30)}),
    ]


# (how many packages, the steps after which they rest) in ship-by order.
def _plan() -> list[tuple[int, str, callable]]:
    return [
        (200, "delivered", lambda n: _to_shipped(n) + [("mark_delivered", CARRIER_FEED, {})]),
        (80, "shipped", _to_shipped),
        (25, "delivery_attempted",
         lambda n: _to_shipped(n) + [("record_delivery_attempt", CARRIER_FEED, {})]),
        (20, "delivery_failed",
         lambda n: _to_shipped(n) + [("record_delivery_attempt", CARRIER_FEED, {}),
                                     ("mark_delivery_failed", CARRIER_FEED,
                                      {"reason": "Recipient absent three times"})]),
        (40, "pending_invoice", lambda n: _to_shipped(n)[:4]),
        (40, "pending_shipping_label", lambda n: _to_shipped(n)[:3]),
        (60, "packaging_completed", lambda n: _to_shipped(n)[:2]),
        (150, "in_progress", lambda n: _to_shipped(n)[:1]),
        (25, "pending_cancellation",
         lambda n: [("start_preparing", OPERATOR, {}),
                    ("request_cancellation", OPERATOR, {"reason": "Customer cancelled the order"})]),
        (40, "canceled", lambda n: [("cancel", OPERATOR, {"reason": "Customer cancelled before picking"})]),
    ]


def demo_run() -> DemoReport:
    """Run the demo once over the imported packages; a second call does nothing.

    Returns a ``DemoReport``. Needs imported Pending packages (``import_olist``).
    """
    report = DemoReport()
    if PackageTransition.objects.filter(actor=str(OPERATOR)).exists():
        report.skipped = "Demo already ran on this database; nothing to do."
        return report
    runner = _Runner(report)
    pending = list(
        Package.objects.filter(status=Status.PENDING, replaces__isnull=True)
        .order_by("ship_by", "pk").values_list("pk", flat=True)
    )
    cursor = 0
    for count, _name, steps in _plan():
        for pk in pending[cursor:cursor + count]:
            runner.chain(pk, steps(pk))
        cursor += count

    # Product Not Found / Defective Product: cancel and replace (replacement Pending or 920).
    for pk in pending[cursor:cursor + 20]:
        code = Package.objects.get(pk=pk).items.values_list("sku__code", flat=True).first()
        runner.run("report_missing", pk, OPERATOR, items={code: 1})
    cursor += 20
    for pk in pending[cursor:cursor + 15]:
        code = Package.objects.get(pk=pk).items.values_list("sku__code", flat=True).first()
        runner.run("report_defective", pk, OPERATOR, items={code: 1})
    cursor += 15

    # Refused by the location -> To Be Rescheduled; a few re-planned elsewhere.
    reasons = [DenialReason.objects.get_or_create(title=t)[0] for t in DENIAL_REASONS]
    refused = pending[cursor:cursor + 30]
    for i, pk in enumerate(refused):
        runner.run("refuse", pk, OPERATOR, denial_reason_id=reasons[i % len(reasons)].pk)
    cursor += 30
    _reassign_some(runner, refused[:8])

    # Stock arrives for some out-of-stock packages; the operator reschedules them.
    _restock_and_reschedule(runner, limit=25)
    _click_and_collect(runner, limit=12)
    _transfers(runner)

    report.status_counts = dict(
        Package.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    report.transfer_counts = dict(
        Transfer.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    return report


def _reassign_some(runner: _Runner, package_ids: list[int]) -> None:
    """Re-plan refused packages to the location holding the most free units of their first SKU."""
    for pk in package_ids:
        package = Package.objects.get(pk=pk)
        sku_id = package.items.values_list("sku_id", flat=True).first()
        target = (
            StockLevel.objects.filter(sku_id=sku_id, location__is_active=True)
            .exclude(location_id=package.location_id)
            .annotate(free=F("on_hand") - F("reserved")).order_by("-free", "pk")
            .values_list("location__code", flat=True).first()
        )
        if target is None:
            target = (StockLocation.objects.exclude(pk=package.location_id)
                      .order_by("code").values_list("code", flat=True).first())
        runner.run("reassign_location", pk, OPERATOR, location_code=target)


def _restock_and_reschedule(runner: _Runner, *, limit: int) -> None:
    waiting = (Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK)
               .order_by("status_changed_at", "pk")[:limit])
    for package in waiting:
        for item in package.items.select_related("sku"):
            level, _ = StockLevel.objects.get_or_create(location=package.location, sku=item.sku)
            if level.available < item.quantity:
                stock_level_set(location=package.location, sku=item.sku,
                                on_hand=level.on_hand + item.quantity - level.available)
        runner.run("reschedule", package.pk, OPERATOR)


def _free_stock(exclude_location_ids=(), limit=50):
    return (StockLevel.objects.filter(on_hand__gt=F("reserved"), location__is_active=True)
            .exclude(location_id__in=list(exclude_location_ids))
            .select_related("location", "sku").order_by("pk")[:limit])


def _click_and_collect(runner: _Runner, *, limit: int) -> None:
    """Stores with a pickup counter take a few click-and-collect orders: some are collected."""
    brand = Brand.objects.get(slug="olist")
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
        steps = [("start_preparing", OPERATOR, {}), ("complete_packaging", OPERATOR, {}),
                 ("mark_ready_for_pickup", OPERATOR, {})]
        if i % 3 == 0:
            steps.append(("hand_over", OPERATOR, {}))
        runner.chain(package.pk, steps)


def _transfers(runner: _Runner) -> None:
    """Orders placed where the SKU is not: transfers bring it, in every transfer state."""
    brand = Brand.objects.get(slug="olist")
    levels = list(_free_stock(limit=400))
    # destination: another location of the same region that has none of the SKU
    region_locations: dict[str, list[StockLocation]] = {}
    for location in StockLocation.objects.filter(is_active=True, can_package=True).order_by("code"):
        region_locations.setdefault(location.region, []).append(location)
    plan = (["transferred"] * 14 + ["in_transit"] * 6 + ["ready_to_shipment"] * 5
            + ["waiting"] * 5 + ["cancellation_waiting"] * 3 + ["cancelled"] * 3)
    made = 0
    for level in levels:
        if made >= len(plan):
            break
        candidates = [loc for loc in region_locations.get(level.location.region, [])
                      if loc.pk != level.location_id]
        if not candidates:
            continue
        destination = candidates[made % len(candidates)]
        if StockLevel.objects.filter(location=destination, sku=level.sku, on_hand__gt=F("reserved")).exists():
            continue
        package = package_create(
            order_number=f"DEMO-TR-{made + 1:04d}", brand=brand, location=destination,
            items=[ItemInput(sku=level.sku, quantity=1)], actor=OPERATOR,
        )
        runner.report.actions["create"] += 1
        if package.status != Status.PENDING_TRANSFER:
            continue
        goal = plan[made]
        made += 1
        steps = {
            "waiting": [],
            "ready_to_shipment": ["ready_for_dispatch"],
            "in_transit": ["ready_for_dispatch", "dispatch"],
            "transferred": ["ready_for_dispatch", "dispatch", "receive"],
            "cancellation_waiting": ["ready_for_dispatch", "request_cancellation"],
            "cancelled": ["cancel"],
        }[goal]
        for transfer_id in Transfer.objects.filter(package=package).values_list("pk", flat=True):
            for action in steps:
                try:
                    transfer_run(action, transfer_id=transfer_id, actor=OPERATOR)
                    runner.report.actions[f"transfer.{action}"] += 1
                except OmsError as exc:
                    runner.report.refused.append(f"transfer {action}: {exc.detail}")
                    break
        if goal == "transferred" and made % 2 == 0:
            # some packages that got their transfers are packed right away
            runner.chain(package.pk, [("complete_packaging", OPERATOR, {})])
