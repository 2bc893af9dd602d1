"""Transfer actions through the engine: every action from every state, stock effects,
events; creation and the other services."""

import pytest

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.actions.errors import ActionNotAllowed, InsufficientStock, InvalidInput
from oms.events.models import OutboxEvent
from oms.events.outbox import _flush_pending
from packages.models import Package, PackageTransition
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package, stock_snapshot
from transfers import services
from transfers.engine import transfer_run
from transfers.models import Status, Transfer, TransferItem, TransferTransition
from transfers.tests.factories import make_transfer
from transfers.tests.spec import STATES, TRANSFER_ACTIONS

pytestmark = pytest.mark.django_db

OPERATOR = Actor("user", "operator")


def _isolated_package():
    """A package that waits for its transfers but is not in Pending Transfer, so the
    package hooks stay quiet: Pending Cancellation requested from Pending Transfer."""
    return make_package(PackageStatus.PENDING_CANCELLATION, quantities=(),
                        status_before_cancellation=PackageStatus.PENDING_TRANSFER)


def _written():
    return (TransferTransition.objects.count(), PackageTransition.objects.count(),
            OutboxEvent.objects.count(), stock_snapshot(),
            list(Transfer.objects.order_by("pk").values()),
            list(Package.objects.order_by("pk").values()))


def _outbox_handoffs(callbacks):
    """The on-commit callbacks that hand outbox events on (eager Celery in tests)."""
    return [cb for cb in callbacks if cb is _flush_pending]


def _level(location, sku):
    level = StockLevel.objects.get(location=location, sku=sku)
    return level.on_hand, level.reserved


@pytest.mark.parametrize("action", sorted(TRANSFER_ACTIONS))
@pytest.mark.parametrize("state", sorted(STATES))
def test_every_action_from_every_state(action, state, django_capture_on_commit_callbacks):
    transfer = make_transfer(state, package=_isolated_package(), quantities=(2, 1))
    sources, targets = TRANSFER_ACTIONS[action]
    before = _written()
    before_log_id = max(TransferTransition.objects.values_list("id", flat=True), default=0)
    before_event_id = max(OutboxEvent.objects.values_list("id", flat=True), default=0)
    if state not in sources:
        with pytest.raises(ActionNotAllowed) as excinfo:
            transfer_run(action, transfer_id=transfer.pk, actor=OPERATOR)
        assert excinfo.value.code == "transition_not_allowed"
        assert excinfo.value.extra["current_status"] == {"slug": state, "label": STATES[state]}
        assert excinfo.value.extra["action"] == action
        assert set(excinfo.value.extra["allowed_actions"]) == {
            name for name, (srcs, _t) in TRANSFER_ACTIONS.items() if state in srcs}
        assert _written() == before, "a refused action must write nothing"
        return
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = transfer_run(action, transfer_id=transfer.pk, actor=OPERATOR)
    transfer.refresh_from_db()
    assert transfer.status in targets
    assert result.status == transfer.status
    assert transfer.version == 2
    assert transfer.status_changed_at > transfer.created_at
    log = TransferTransition.objects.filter(id__gt=before_log_id)
    assert list(log.values_list("transfer_id", "from_status", "to_status", "action", "actor")) == [
        (transfer.pk, state, transfer.status, action, "user:operator")
    ]
    events = list(OutboxEvent.objects.filter(id__gt=before_event_id).exclude(type="stock.level.raised"))
    assert [(e.type, e.aggregate_type, e.aggregate_id) for e in events] == [
        ("transfer.status.transitioned", "transfer", transfer.pk)
    ]
    assert events[0].payload["transfer"]["status"]["slug"] == transfer.status
    assert events[0].payload["transition"]["action"] == action
    assert _outbox_handoffs(callbacks)
    assert PackageTransition.objects.count() == before[1], "the package hooks stayed quiet"


@pytest.mark.parametrize("previous", [Status.READY_TO_SHIPMENT, Status.IN_TRANSIT])
def test_reject_cancellation_returns_to_the_state_before(previous):
    transfer = make_transfer(Status.CANCELLATION_WAITING, package=_isolated_package(),
                             status_before_cancellation=previous)
    before = stock_snapshot()
    transfer = transfer_run("reject_cancellation", transfer_id=transfer.pk, actor=OPERATOR)
    assert transfer.status == previous
    assert stock_snapshot() == before


def test_request_then_reject_round_trip_reads_the_latest_request():
    transfer = make_transfer(Status.READY_TO_SHIPMENT, package=_isolated_package())
    transfer_run("request_cancellation", transfer_id=transfer.pk, actor=OPERATOR, reason="r1")
    transfer_run("reject_cancellation", transfer_id=transfer.pk, actor=OPERATOR)
    transfer_run("dispatch", transfer_id=transfer.pk, actor=OPERATOR)
    transfer_run("request_cancellation", transfer_id=transfer.pk, actor=OPERATOR, reason="r2")
    transfer = transfer_run("reject_cancellation", transfer_id=transfer.pk, actor=OPERATOR)
    assert transfer.status == Status.IN_TRANSIT
    assert transfer.version == 6


# --- stock effects -----------------------------------------------------------------------

def test_ready_for_dispatch_moves_no_stock():
    transfer = make_transfer(Status.WAITING, package=_isolated_package())
    before = stock_snapshot()
    transfer_run("ready_for_dispatch", transfer_id=transfer.pk, actor=OPERATOR)
    assert stock_snapshot() == before


@pytest.mark.parametrize("state", [Status.WAITING, Status.READY_TO_SHIPMENT])
def test_dispatch_takes_the_units_out_of_the_source(state):
    transfer = make_transfer(state, package=_isolated_package(), quantities=(2,), on_hand=5)
    sku = transfer.items.get().sku
    assert _level(transfer.source, sku) == (5, 2)
    transfer = transfer_run("dispatch", transfer_id=transfer.pk, actor=OPERATOR,
                                          carrier=" ACME ", tracking_number="TRK1")
    assert _level(transfer.source, sku) == (3, 0)
    assert (transfer.carrier, transfer.tracking_number) == ("ACME", "TRK1")
    assert TransferTransition.objects.filter(action="dispatch").get().payload == {
        "carrier": "ACME", "tracking_number": "TRK1"}


def test_receive_adds_the_units_to_the_destination_reserved_for_the_package():
    transfer = make_transfer(Status.IN_TRANSIT, package=_isolated_package(), quantities=(2,), on_hand=5)
    sku = transfer.items.get().sku
    StockLevel.objects.create(location=transfer.destination, sku=sku, on_hand=4, reserved=1)
    transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)
    assert _level(transfer.destination, sku) == (6, 3)
    assert _level(transfer.source, sku) == (3, 0)


def test_receive_creates_the_stock_row_at_the_destination():
    transfer = make_transfer(Status.IN_TRANSIT, package=_isolated_package(), quantities=(2,))
    sku = transfer.items.get().sku
    assert not StockLevel.objects.filter(location=transfer.destination).exists()
    transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)
    assert _level(transfer.destination, sku) == (2, 2)


@pytest.mark.parametrize("package_status", [PackageStatus.CANCELED, PackageStatus.TO_BE_RESCHEDULED])
def test_receive_for_a_package_no_longer_waiting_puts_the_units_on_the_shelf(package_status):
    package = make_package(package_status, quantities=())
    transfer = make_transfer(Status.IN_TRANSIT, package=package, quantities=(2,))
    sku = transfer.items.get().sku
    transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)
    assert _level(transfer.destination, sku) == (2, 0)
    log = TransferTransition.objects.get(action="receive")
    assert log.payload == {"reserved_for_package": False}
    package.refresh_from_db()
    assert package.status == package_status


def test_cancel_from_waiting_releases_the_source_reservation():
    transfer = make_transfer(Status.WAITING, package=_isolated_package(), quantities=(2,), on_hand=5)
    sku = transfer.items.get().sku
    transfer_run("cancel", transfer_id=transfer.pk, actor=OPERATOR, reason="not needed")
    assert _level(transfer.source, sku) == (5, 0)
    assert TransferTransition.objects.get(action="cancel").reason == "not needed"


def test_request_cancellation_moves_no_stock():
    transfer = make_transfer(Status.IN_TRANSIT, package=_isolated_package())
    before = stock_snapshot()
    transfer_run("request_cancellation", transfer_id=transfer.pk, actor=OPERATOR)
    assert stock_snapshot() == before


@pytest.mark.parametrize("previous, expected", [
    (Status.IN_TRANSIT, (5, 0)),         # units come back on the source's shelf
    (Status.READY_TO_SHIPMENT, (5, 0)),  # source reservation released
])
def test_confirm_cancellation_gives_the_units_back_to_the_source(previous, expected):
    transfer = make_transfer(Status.CANCELLATION_WAITING, package=_isolated_package(),
                             quantities=(2,), on_hand=5, status_before_cancellation=previous)
    sku = transfer.items.get().sku
    assert _level(transfer.source, sku) == ((3, 0) if previous == Status.IN_TRANSIT else (5, 2))
    transfer_run("confirm_cancellation", transfer_id=transfer.pk, actor=OPERATOR)
    assert _level(transfer.source, sku) == expected
    assert TransferTransition.objects.get(action="confirm_cancellation").payload == {
        "status_before_request": previous}


def test_confirm_cancellation_from_in_transit_recreates_a_missing_source_row():
    transfer = make_transfer(Status.CANCELLATION_WAITING, package=_isolated_package(),
                             quantities=(2,), on_hand=2)
    sku = transfer.items.get().sku
    StockLevel.objects.filter(location=transfer.source).delete()
    transfer_run("confirm_cancellation", transfer_id=transfer.pk, actor=OPERATOR)
    assert _level(transfer.source, sku) == (2, 0)


def test_unknown_transfer_raises_does_not_exist():
    for action in TRANSFER_ACTIONS:
        with pytest.raises(Transfer.DoesNotExist):
            transfer_run(action, transfer_id=10**9, actor=OPERATOR)


def test_events_leave_only_after_commit(django_capture_on_commit_callbacks):
    transfer = make_transfer(Status.READY_TO_SHIPMENT, package=_isolated_package())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        transfer_run("dispatch", transfer_id=transfer.pk, actor=OPERATOR, carrier="C",
                                   tracking_number="T")
    assert len(_outbox_handoffs(callbacks)) == len(callbacks) == 1  # one event, no stock freed
    event = OutboxEvent.objects.get()
    assert event.dispatched_at is not None
    assert event.payload["transfer"]["status"] == {"slug": "in_transit", "label": "In Transit"}
    assert event.payload["transfer"]["number"] == transfer.number
    assert event.payload["transition"]["from_status"]["slug"] == "ready_to_shipment"


# --- creation ----------------------------------------------------------------------------

def _package_needing(sku, quantity, *, region="SP"):
    package = make_package(PackageStatus.PENDING, quantities=(),
                           location=StockLocationFactory(region=region))
    package.items.create(sku=sku, quantity=quantity)
    return package


def test_create_for_package_reserves_at_each_source_and_logs():
    sku_a, sku_b = SkuFactory(), SkuFactory()
    package = make_package(PackageStatus.PENDING, quantities=())
    one, two = StockLocationFactory(), StockLocationFactory()
    StockLevel.objects.create(location=one, sku=sku_a, on_hand=3)
    StockLevel.objects.create(location=two, sku=sku_b, on_hand=4, reserved=1)
    transfers = services.transfers_create_for_package(
        package=package, lines={sku_a.pk: 2, sku_b.pk: 3}, actor=OPERATOR)
    assert [t.source_id for t in transfers] == [one.pk, two.pk]
    assert [t.number for t in transfers] == [f"{package.number}-T1", f"{package.number}-T2"]
    assert all(t.status == Status.WAITING and t.destination_id == package.location_id
               for t in transfers)
    assert list(TransferItem.objects.filter(transfer=transfers[0]).values_list("sku_id", "quantity")) \
        == [(sku_a.pk, 2)]
    assert _level(one, sku_a) == (3, 2)
    assert _level(two, sku_b) == (4, 4)
    logs = TransferTransition.objects.order_by("id")
    assert [(log.from_status, log.to_status, log.action) for log in logs] == [
        (None, "waiting", "create")] * 2
    assert [e.type for e in OutboxEvent.objects.all()] == ["transfer.status.created"] * 2
    assert services.transfer_units_in_flight(package_id=package.pk) == {sku_a.pk: 2, sku_b.pk: 3}


def test_create_for_package_without_a_plan_raises_and_writes_nothing():
    sku = SkuFactory()
    package = _package_needing(sku, 3)
    StockLevel.objects.create(location=StockLocationFactory(), sku=sku, on_hand=2)
    before = _written()
    with pytest.raises(InsufficientStock) as excinfo:
        services.transfers_create_for_package(package=package, lines={sku.pk: 3}, actor=OPERATOR)
    assert excinfo.value.extra["shortages"] == [{"sku": sku.code, "needed": 3, "available": 2}]
    assert _written() == before


def test_create_for_package_rejects_bad_quantities():
    package = _package_needing(SkuFactory(), 1)
    with pytest.raises(InvalidInput):
        services.transfers_create_for_package(package=package, lines={1: 0}, actor=OPERATOR)


def test_units_in_flight_counts_only_open_transfers():
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    sku = SkuFactory()
    for state in Status.values:
        make_transfer(state, package=package, skus=[sku], quantities=(1,), add_package_items=False)
    # waiting, ready_to_shipment, in_transit, cancellation_waiting
    assert services.transfer_units_in_flight(package_id=package.pk) == {sku.pk: 4}
    assert services.transfer_units_in_flight(package_id=10**9) == {}


def test_cancel_open_for_package_cancels_or_asks_by_state():
    package = make_package(PackageStatus.TO_BE_RESCHEDULED, quantities=())
    transfers = {state: make_transfer(state, package=package) for state in Status.values}
    before_package = list(Package.objects.values())
    before_log_id = TransferTransition.objects.order_by("-id").values_list("id", flat=True).first()
    services.transfers_cancel_open_for_package(package_id=package.pk, actor=OPERATOR)
    now = dict(Transfer.objects.values_list("pk", "status"))
    assert {state: now[t.pk] for state, t in transfers.items()} == {
        "waiting": "cancelled",
        "ready_to_shipment": "cancellation_waiting",
        "in_transit": "cancellation_waiting",
        "transferred": "transferred",
        "cancellation_waiting": "cancellation_waiting",
        "cancelled": "cancelled",
    }
    waiting = transfers["waiting"]
    assert _level(waiting.source, waiting.items.get().sku) == (5, 0)
    assert sorted(TransferTransition.objects.filter(id__gt=before_log_id)
                  .values_list("action", flat=True)) == [
        "cancel", "request_cancellation", "request_cancellation"]
    assert list(Package.objects.values()) == before_package


def test_create_for_package_replans_when_a_planned_source_ran_dry(monkeypatch):
    sku = SkuFactory()
    package = _package_needing(sku, 2)
    dry, wet = StockLocationFactory(), StockLocationFactory()
    StockLevel.objects.create(location=dry, sku=sku, on_hand=2, reserved=2)  # taken "meanwhile"
    StockLevel.objects.create(location=wet, sku=sku, on_hand=2)
    real_plan, calls = services.transfer_plan, []

    def stale_then_real(**kwargs):
        calls.append(kwargs)
        return {dry.pk: {sku.pk: 2}} if len(calls) == 1 else real_plan(**kwargs)

    monkeypatch.setattr(services, "transfer_plan", stale_then_real)
    transfer, = services.transfers_create_for_package(package=package, lines={sku.pk: 2}, actor=OPERATOR)
    assert len(calls) == 2
    assert transfer.source == wet
    assert Transfer.objects.count() == TransferTransition.objects.count() == 1
    assert _level(dry, sku) == (2, 2)
    assert _level(wet, sku) == (2, 2)


def test_create_for_package_gives_up_after_repeated_races(monkeypatch):
    sku = SkuFactory()
    package = _package_needing(sku, 1)
    dry = StockLocationFactory()
    StockLevel.objects.create(location=dry, sku=sku, on_hand=1, reserved=1)
    monkeypatch.setattr(services, "transfer_plan", lambda **kwargs: {dry.pk: {sku.pk: 1}})
    before = _written()
    with pytest.raises(InsufficientStock):
        services.transfers_create_for_package(package=package, lines={sku.pk: 1}, actor=OPERATOR)
    assert _written() == before
