"""Action services: every action from every state, stock effects, events after commit."""

import datetime as dt

import pytest
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.actions.engine import ActorNotPermitted
from oms.actions.errors import ActionNotAllowed, InsufficientStock, InvalidInput
from oms.events.models import OutboxEvent
from oms.events.outbox import _flush_pending
from packages.actions import ACTIONS
from packages.creation import ItemInput, package_create
from packages.engine import package_allowed_actions, package_run
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory, DenialReasonFactory
from packages.tests.helpers import make_package, split_parts, stock_snapshot
from packages.tests.spec import ALL_STATES, PACKAGE_ACTIONS, WHO

pytestmark = pytest.mark.django_db

ACTOR_FOR = {"O": Actor("user", "operator"), "T": Actor("user", "stella", staff=True),
             "A": Actor("api", "integrator"), "S": Actor("system", "system")}


def _actor(action):
    return ACTOR_FOR[WHO[action][0]]


def _kwargs(action, package):
    if action == "ship":
        return {"carrier": "ACME", "tracking_number": "TRK1"}
    if action in ("report_missing", "report_defective", "report_missing_items"):
        return {"items": {package.items.first().sku.code: 1}}
    if action == "split":
        return split_parts(package, StockLocationFactory())
    if action == "refuse":
        return {"denial_reason_id": DenialReasonFactory().pk}
    if action == "reassign_location":
        return {"location_code": StockLocationFactory().code}
    if action in ("attach_invoice", "update_invoice"):
        return {"invoice_number": "NF-1", "invoice_date": dt.date(2026, 11, 30)}
    if action == "update_shipment":
        return {"carrier": "ACME", "tracking_number": "TRK2"}
    if action == "mark_delivery_failed":
        return {"reason": "address not found"}
    if action == "block":
        return {"reason": "customer called"}
    return {}


def _package_for(action, state):
    delivery = (Package.DeliveryType.CLICK_AND_COLLECT if action == "mark_ready_for_pickup"
                else Package.DeliveryType.SHIP)
    # unblock needs a blocked package (every other action a package that is not)
    hold = {"blocked_at": timezone.now(), "block_reason": "audit"} if action == "unblock" else {}
    package = make_package(state, quantities=(2, 1), delivery_type=delivery, **hold)
    if action == "transfer_lost":  # the system runs it when a transfer was cancelled
        from transfers.tests.factories import make_transfer

        make_transfer("cancelled", package=package, quantities=(1,))
    if action == "unblock" and state == Status.PENDING_TRANSFER:  # a transfer still travels
        from transfers.tests.factories import make_transfer

        make_transfer("in_transit", package=package, quantities=(1,))
    return package


def _written():
    return (PackageTransition.objects.count(), OutboxEvent.objects.count(), stock_snapshot(),
            list(Package.objects.order_by("pk").values()))


@pytest.mark.parametrize("action", sorted(PACKAGE_ACTIONS))
@pytest.mark.parametrize("state", sorted(ALL_STATES))
def test_every_action_from_every_state(action, state, django_capture_on_commit_callbacks):
    package = _package_for(action, state)
    kwargs = _kwargs(action, package)
    sources, targets = PACKAGE_ACTIONS[action]
    before = _written()
    before_log_id = max(PackageTransition.objects.values_list("id", flat=True), default=0)
    if state not in sources:
        with pytest.raises(ActionNotAllowed) as excinfo:
            package_run(action, package_id=package.pk, actor=_actor(action), **kwargs)
        assert excinfo.value.code == "transition_not_allowed"
        assert excinfo.value.extra["current_status"]["code"] == state
        assert _written() == before, "a refused action must write nothing"
        return
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = package_run(action, package_id=package.pk, actor=_actor(action), **kwargs)
    package.refresh_from_db()
    assert package.status in targets
    assert result.status == package.status
    assert package.version == 2
    log = PackageTransition.objects.filter(package=package, id__gt=before_log_id)
    assert list(log.values_list("from_status", "to_status", "action")) == [
        (state, package.status, action)
    ]
    new_events = OutboxEvent.objects.filter(aggregate_id=package.pk, aggregate_type="package")
    assert [e.type for e in new_events] == [ACTIONS[action].event or "package.status.transitioned"]
    # the outbox rows are handed on after commit
    assert any(cb is _flush_pending for cb in callbacks)
    if action.startswith("report_"):  # the replacement, or the package of the missing units
        assert OutboxEvent.objects.filter(type="package.created").count() == 1
    if action == "split":  # one package per part
        assert OutboxEvent.objects.filter(type="package.created").count() == 2


def test_ship_stops_at_each_open_gate_in_order(operator, system):
    brand = BrandFactory(slug="gated", requires_shipping_label=True, requires_invoice=True)
    package = make_package(Status.PACKAGING_COMPLETED, brand=brand)
    package = package_run("ship", package_id=package.pk, actor=operator, carrier="C", tracking_number="T")
    assert package.status == Status.PENDING_SHIPPING_LABEL
    assert (package.carrier, package.tracking_number) == ("C", "T")
    package = package_run("confirm_label_printed", package_id=package.pk, actor=operator)
    assert package.status == Status.PENDING_INVOICE
    package = package_run("attach_invoice", package_id=package.pk, actor=system,
                          invoice_number="NF-9", invoice_date=dt.date(2026, 1, 2))
    assert package.status == Status.SHIPPED
    assert package.shipped_at is not None


def test_ship_skips_gates_already_closed(operator, system):
    brand = BrandFactory(slug="invoice-only", requires_invoice=True)
    package = make_package(Status.PACKAGING_COMPLETED, brand=brand)
    package_run("attach_invoice", package_id=package.pk, actor=system, invoice_number="NF-1",
                invoice_date=dt.date(2026, 1, 2))
    package = package_run("ship", package_id=package.pk, actor=operator, carrier="C", tracking_number="T")
    assert package.status == Status.SHIPPED
    plain = make_package(Status.PACKAGING_COMPLETED, brand=BrandFactory(slug="plain"))
    assert package_run("ship", package_id=plain.pk, actor=operator, carrier="C",
                       tracking_number="T").status == Status.SHIPPED


def test_ship_refuses_click_and_collect_and_blank_tracking(operator):
    cc = make_package(Status.PACKAGING_COMPLETED, delivery_type=Package.DeliveryType.CLICK_AND_COLLECT)
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("ship", package_id=cc.pk, actor=operator, carrier="C", tracking_number="T")
    assert "mark_ready_for_pickup" in excinfo.value.extra["allowed_actions"]
    package = make_package(Status.PACKAGING_COMPLETED)
    with pytest.raises(InvalidInput) as excinfo:
        package_run("ship", package_id=package.pk, actor=operator, carrier="C", tracking_number="  ")
    assert excinfo.value.extra["field"] == "tracking_number"
    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED
    assert not PackageTransition.objects.filter(package=package).exists()


def test_create_reserves_stock_and_starts_pending(operator):
    location = StockLocationFactory()
    sku = SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=3)
    package = package_create(order_number="O-1", brand=BrandFactory(), location=location,
                             items=[ItemInput(sku=sku, quantity=2)], actor=operator)
    assert package.status == Status.PENDING
    assert package.number == "O-1-1"
    assert StockLevel.objects.get(sku=sku).reserved == 2
    assert OutboxEvent.objects.get().type == "package.created"
    second = package_create(order_number="O-1", brand=package.brand, location=location,
                            items=[ItemInput(sku=sku, quantity=2)], actor=operator)
    assert second.status == Status.PRODUCT_OUT_OF_STOCK
    assert second.number == "O-1-2"
    assert StockLevel.objects.get(sku=sku).reserved == 2
    log = PackageTransition.objects.get(package=second)
    assert (log.from_status, log.to_status, log.action) == (None, 920, "create")
    assert log.reason == f"short: SKU {sku.code} needs 2, has 1"


def test_create_rejects_bad_input(operator):
    location, sku, brand = StockLocationFactory(), SkuFactory(), BrandFactory()
    with pytest.raises(InvalidInput):
        package_create(order_number="O", brand=brand, location=location, items=[], actor=operator)
    with pytest.raises(InvalidInput):
        package_create(order_number="O", brand=brand, location=location,
                       items=[ItemInput(sku=sku, quantity=0)], actor=operator)
    with pytest.raises(InvalidInput):
        package_create(order_number="O", brand=brand, location=location,
                       items=[ItemInput(sku=sku, quantity=1)] * 2, actor=operator)
    assert not Package.objects.exists()


def test_report_missing_cancels_writes_off_and_replaces(operator):
    """Acceptance: 3-item package, 1 unit missing."""
    package = make_package(Status.IN_PROGRESS, quantities=(1, 1, 1), on_hand=2)
    items = list(package.items.select_related("sku").order_by("id"))
    missing = items[0].sku
    result = package_run("report_missing", package_id=package.pk, actor=operator,
                         items=[{"sku": missing.code, "quantity": 1}])
    package.refresh_from_db()
    assert package.status == Status.CANCELED
    assert package.cancellation_reason == "product_not_found"
    assert StockLevel.objects.get(sku=missing).on_hand == 1
    replacement = Package.objects.get(replaces=package)
    assert result.replacement == replacement
    assert package.replacement == replacement
    assert sorted(replacement.items.values_list("sku__code", "quantity")) == sorted(
        (i.sku.code, i.quantity) for i in items)
    assert replacement.order_number == package.order_number
    assert replacement.status == Status.PENDING  # one unit of each SKU still there
    assert [lvl.reserved for lvl in StockLevel.objects.order_by("pk")] == [1, 1, 1]


def test_report_missing_replacement_out_of_stock_when_last_unit_missing(operator):
    package = make_package(Status.PENDING, quantities=(1, 1, 1), on_hand=1)
    missing = package.items.first().sku
    package_run("report_missing", package_id=package.pk, actor=operator, items={missing.code: 1})
    replacement = Package.objects.get(replaces=package)
    assert replacement.status == Status.PRODUCT_OUT_OF_STOCK
    assert StockLevel.objects.get(sku=missing).on_hand == 0
    assert all(level.reserved == 0 for level in StockLevel.objects.all())


def test_report_defective_moves_units_to_damaged(operator):
    package = make_package(Status.READY_TO_PACKAGING, quantities=(2,), on_hand=4)
    sku = package.items.get().sku
    package_run("report_defective", package_id=package.pk, actor=operator, items={sku.code: 1})
    level = StockLevel.objects.get(sku=sku)
    assert (level.on_hand, level.damaged, level.reserved) == (3, 1, 2)
    package.refresh_from_db()
    assert package.status == Status.DEFECTIVE_PRODUCT_FOUND
    assert package.replacement.status == Status.PENDING


@pytest.mark.django_db(transaction=True)  # the engine's transaction is the outermost, as served
def test_report_missing_is_all_or_nothing(operator, monkeypatch):
    package = make_package(Status.PENDING, quantities=(1, 1, 1), on_hand=2)
    before = _written()

    def broken(**kwargs):
        raise RuntimeError("replacement cannot be created")

    monkeypatch.setattr("packages.actions.package_create", broken)
    with pytest.raises(RuntimeError):
        package_run("report_missing", package_id=package.pk, actor=operator,
                    items={package.items.first().sku.code: 1})
    assert _written() == before


@pytest.mark.parametrize("items, message", [
    ({}, "at least one"),
    ({"NOPE": 1}, "not in package"),
    ("too-many", "holds"),
    ([{"sku": "x"}], "items must be"),
])
def test_report_missing_rejects_bad_items(operator, items, message):
    package = make_package(Status.PENDING, quantities=(1,))
    if items == "too-many":
        items = {package.items.first().sku.code: 2}
    before = _written()
    with pytest.raises(InvalidInput) as excinfo:
        package_run("report_missing", package_id=package.pk, actor=operator, items=items)
    assert message in excinfo.value.detail
    assert excinfo.value.extra["field"] == "items"
    assert _written() == before


def test_reschedule_without_stock_names_the_shortage(operator):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(2, 1), on_hand=1)
    before = _written()
    with pytest.raises(InsufficientStock) as excinfo:
        package_run("reschedule", package_id=package.pk, actor=operator)
    assert len(excinfo.value.extra["shortages"]) == 1
    assert excinfo.value.extra["shortages"][0]["needed"] == 2
    assert excinfo.value.extra["shortages"][0]["available"] == 1
    assert _written() == before


def test_reschedule_reserves_when_stock_is_back(system):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(2,), on_hand=2)
    package = package_run("reschedule", package_id=package.pk, actor=system)
    assert package.status == Status.IN_PROGRESS
    assert StockLevel.objects.get().reserved == 2


def test_complete_packaging_picks_reserved_units(operator):
    package = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=5)
    package_run("complete_packaging", package_id=package.pk, actor=operator)
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (3, 0)


@pytest.mark.parametrize("before_request, expected", [
    (Status.IN_PROGRESS, (5, 0)),          # reservation released
    (Status.PACKAGING_COMPLETED, (5, 0)),  # picked units back on the shelf
])
def test_confirm_cancellation_undoes_what_the_package_held(operator, before_request, expected):
    package = make_package(Status.PENDING_CANCELLATION, quantities=(2,), on_hand=5,
                           status_before_cancellation=before_request)
    package_run("confirm_cancellation", package_id=package.pk, actor=operator)
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == expected


@pytest.mark.parametrize("before_request", [Status.IN_PROGRESS, Status.PENDING_INVOICE,
                                            Status.READY_FOR_PICKUP])
def test_reject_cancellation_returns_to_the_state_before(operator, before_request):
    package = make_package(before_request)
    package = package_run("request_cancellation", package_id=package.pk, actor=operator,
                          reason="customer asked")
    assert package.status == Status.PENDING_CANCELLATION
    package = package_run("reject_cancellation", package_id=package.pk, actor=operator)
    assert package.status == before_request


@pytest.mark.parametrize("state", [Status.PENDING, Status.IN_PROGRESS])
def test_refuse_releases_reservations(operator, state):
    package = make_package(state, quantities=(2,), on_hand=2)
    reason = DenialReasonFactory(title="No staff")
    package = package_run("refuse", package_id=package.pk, actor=operator, denial_reason_id=reason.pk)
    assert package.status == Status.TO_BE_RESCHEDULED
    assert StockLevel.objects.get().reserved == 0
    assert PackageTransition.objects.get(package=package).reason == "No staff"


def test_refuse_needs_an_active_denial_reason(operator):
    package = make_package(Status.PENDING)
    inactive = DenialReasonFactory(is_active=False)
    with pytest.raises(InvalidInput):
        package_run("refuse", package_id=package.pk, actor=operator, denial_reason_id=inactive.pk)


def test_reassign_location_reserves_at_the_new_location(operator):
    package = make_package(Status.TO_BE_RESCHEDULED, quantities=(1,))
    sku = package.items.get().sku
    other = StockLocationFactory()
    StockLevel.objects.create(location=other, sku=sku, on_hand=1)
    package = package_run("reassign_location", package_id=package.pk, actor=operator,
                          location_code=other.code)
    assert package.status == Status.PENDING
    assert package.location == other
    assert StockLevel.objects.get(location=other).reserved == 1
    waiting = make_package(Status.TO_BE_RESCHEDULED)
    with pytest.raises(InvalidInput):
        package_run("reassign_location", package_id=waiting.pk, actor=operator, location_code="NOPE")


def test_cancel_pending_releases_reservation(operator):
    package = make_package(Status.PENDING, quantities=(3,), on_hand=3)
    package_run("cancel", package_id=package.pk, actor=operator, reason="customer")
    assert StockLevel.objects.get().reserved == 0


def test_brand_switch_refuses_and_hides_the_action(operator):
    brand = BrandFactory(slug="no-start", disabled_actions=["start_preparing"])
    package = make_package(Status.PENDING, brand=brand)
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("start_preparing", package_id=package.pk, actor=operator)
    assert excinfo.value.code == "action_disabled"
    assert "start_preparing" not in excinfo.value.extra["allowed_actions"]
    assert "complete_packaging" in package_allowed_actions(package)
    assert not PackageTransition.objects.exists()


def test_actor_kind_is_enforced(operator, integrator):
    package = make_package(Status.SHIPPED)
    with pytest.raises(ActorNotPermitted):
        package_run("mark_delivered", package_id=package.pk, actor=operator)
    assert package_run("mark_delivered", package_id=package.pk, actor=integrator).status == 800
    transfer_waiting = make_package(Status.PENDING_TRANSFER)
    with pytest.raises(ActorNotPermitted):
        package_run("transfers_arrived", package_id=transfer_waiting.pk, actor=integrator)


def test_delivery_attempts_are_counted(integrator):
    package = make_package(Status.SHIPPED)
    package_run("record_delivery_attempt", package_id=package.pk, actor=integrator)
    package = package_run("record_delivery_attempt", package_id=package.pk, actor=integrator)
    assert (package.status, package.delivery_attempts) == (Status.DELIVERY_ATTEMPTED, 2)
    with pytest.raises(InvalidInput):
        package_run("mark_delivery_failed", package_id=package.pk, actor=integrator, reason=" ")


def test_events_leave_only_after_commit(operator, django_capture_on_commit_callbacks):
    package = make_package(Status.PACKAGING_COMPLETED)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        package_run("ship", package_id=package.pk, actor=operator, carrier="C", tracking_number="T")
    assert len(callbacks) == 1
    event = OutboxEvent.objects.get()
    assert event.dispatched_at is not None  # the eager task ran on commit
    assert event.type == "package.status.transitioned"
    assert event.payload["transition"]["to_status"]["slug"] == "shipped"
    assert event.payload["package"]["tracking_number"] == "T"


def test_unknown_package_raises_does_not_exist(operator):
    with pytest.raises(Package.DoesNotExist):
        package_run("start_preparing", package_id=10**9, actor=operator)


def test_create_many_matches_one_by_one_rules(operator):
    """Pending where stock covers all (earlier specs first), Product Out of Stock where no
    location can help, a refused spec reported without stopping the others."""
    from packages.creation import PackageSpec, package_create_many

    brand, home = BrandFactory(), StockLocationFactory()
    sku, scarce = SkuFactory(code="S-OK"), SkuFactory(code="S-SCARCE")
    StockLevel.objects.create(location=home, sku=sku, on_hand=10)
    StockLevel.objects.create(location=home, sku=scarce, on_hand=1)
    specs = [
        PackageSpec(order_number="A", brand=brand, location=home, number="A-1",
                    items=[ItemInput(sku=sku, quantity=2), ItemInput(sku=scarce, quantity=1)]),
        PackageSpec(order_number="B", brand=brand, location=home, number="B-1",
                    items=[ItemInput(sku=scarce, quantity=1)]),
        PackageSpec(order_number="C", brand=brand, location=home, number="A-1",  # duplicate
                    items=[ItemInput(sku=sku, quantity=1)]),
    ]
    first, second, third = package_create_many(specs=specs, actor=operator)
    assert first.status == Status.PENDING
    assert second.status == Status.PRODUCT_OUT_OF_STOCK
    assert isinstance(third, InvalidInput) and third.extra["field"] == "number"
    second.refresh_from_db()
    assert second.stock_shortage == "short: SKU S-SCARCE needs 1, has 0"
    assert second.next_stock_check_at is not None
    assert {(lvl.sku.code, lvl.reserved) for lvl in StockLevel.objects.select_related("sku")} == {
        ("S-OK", 2), ("S-SCARCE", 1)}
    assert list(PackageTransition.objects.order_by("package__number")
                .values_list("package__number", "to_status", "action")) == [
        ("A-1", 100, "create"), ("B-1", 920, "create")]
    assert OutboxEvent.objects.filter(type="package.created").count() == 2
    assert Package.objects.count() == 2


def test_replacement_never_waits_for_transfers(operator):
    """Spec: the replacement is Pending or Product Out of Stock, even when another location
    could send the missing unit."""
    package = make_package(Status.PENDING, quantities=(1,), on_hand=1)
    sku = package.items.get().sku
    StockLevel.objects.create(location=StockLocationFactory(region=package.location.region), sku=sku,
                              on_hand=5)
    package_run("report_missing", package_id=package.pk, actor=operator, items={sku.code: 1})
    replacement = Package.objects.get(replaces=package)
    assert replacement.status == Status.PRODUCT_OUT_OF_STOCK
    assert not replacement.transfers.exists()


def test_transfers_arrived_refused_while_a_transfer_is_open(system):
    from transfers.tests.factories import make_transfer

    package = make_package(Status.PENDING_TRANSFER, quantities=())
    make_transfer("in_transit", package=package)
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("transfers_arrived", package_id=package.pk, actor=system)
    assert excinfo.value.code == "transfers_not_arrived"
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("transfer_lost", package_id=package.pk, actor=system)
    assert excinfo.value.code == "no_transfer_lost"


def test_reassign_to_the_same_location_is_refused(operator):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK)
    with pytest.raises(InvalidInput) as excinfo:
        package_run("reassign_location", package_id=package.pk, actor=operator,
                    location_code=package.location.code)
    assert excinfo.value.extra["field"] == "location"


def test_delivery_type_mismatch_says_so(operator):
    package = make_package(Status.PACKAGING_COMPLETED)
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("mark_ready_for_pickup", package_id=package.pk, actor=operator)
    assert excinfo.value.code == "delivery_type_mismatch"
    assert "click-and-collect" in excinfo.value.detail


@pytest.mark.parametrize("order_number", ["ORD/../x", "PEDIDO-Ç1", "", "a b", "x" * 65])
def test_create_refuses_order_numbers_that_cannot_be_package_numbers(operator, order_number):
    with pytest.raises(InvalidInput) as excinfo:
        package_create(order_number=order_number, brand=BrandFactory(), location=StockLocationFactory(),
                       items=[ItemInput(sku=SkuFactory(), quantity=1)], actor=operator)
    assert excinfo.value.extra["field"] == "order_number"
    assert not Package.objects.exists()


@pytest.mark.parametrize("tracking", ["BR123ÇÃ", "AB–12", "has space"])
def test_ship_refuses_tracking_numbers_a_barcode_cannot_print(operator, tracking):
    package = make_package(Status.PACKAGING_COMPLETED)
    with pytest.raises(InvalidInput) as excinfo:
        package_run("ship", package_id=package.pk, actor=operator, carrier="C", tracking_number=tracking)
    assert excinfo.value.extra["field"] == "tracking_number"
    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED


def test_barcode_of_non_ascii_text_degrades_to_text():
    from packages.barcode import code128_svg

    assert "no barcode" in code128_svg("PEDIDO-Ç1-1")
    assert code128_svg("ABC-1").startswith("<svg")
