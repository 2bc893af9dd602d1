"""The declarations (``transfers.actions``) and the engine (``transfers.engine``): side and
who as the spec says, scope by side, batches, the package hooks, the import contract."""

import ast
from pathlib import Path

import pytest

from locations.models import StockLevel
from locations.tests.factories import StockLocationFactory
from oms.actions.actors import Actor, system_actor
from oms.actions.engine import ActorNotPermitted, Entry
from packages.models import PackageTransition
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package, stock_snapshot
from transfers.actions import ACTIONS
from transfers.engine import transfer_act, transfer_allowed_actions, transfer_run
from transfers.models import Status, Transfer, TransferTransition
from transfers.signals import transfer_arriving
from transfers.tests.factories import make_transfer
from transfers.tests.spec import SIDE, STATES, TRANSFER_ACTIONS, WHO

OPERATOR = Actor("user", "operator")
TRANSFERS_DIR = Path(__file__).resolve().parents[1]


def _isolated_package():
    return make_package(PackageStatus.PENDING_CANCELLATION, quantities=(),
                        status_before_cancellation=PackageStatus.PENDING_TRANSFER)


def test_declarations_match_the_spec_table():
    assert list(ACTIONS) == list(TRANSFER_ACTIONS)  # the table's order
    assert {name: action.side for name, action in ACTIONS.items()} == SIDE
    assert {name: action.who for name, action in ACTIONS.items()} == WHO
    assert SIDE["receive"] == "destination"
    assert {name for name, side in SIDE.items() if side == "source"} == {
        "ready_for_dispatch", "dispatch", "cancel", "request_cancellation",
        "confirm_cancellation", "reject_cancellation"}


def test_transfers_never_import_packages():
    """Import contract: locations <- transfers <- packages (tests may use package helpers)."""
    offenders = []
    for path in sorted(TRANSFERS_DIR.rglob("*.py")):
        if "tests" in path.relative_to(TRANSFERS_DIR).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {name}" for name in names
                          if name == "packages" or name.startswith("packages.")]
    assert offenders == []


@pytest.mark.django_db
@pytest.mark.parametrize("state", sorted(STATES))
def test_allowed_actions_follow_the_side_in_scope(state):
    transfer = make_transfer(state, package=_isolated_package())
    by_state = [name for name in ACTIONS if state in TRANSFER_ACTIONS[name][0]]
    assert transfer_allowed_actions(transfer) == by_state
    for side in ("source", "destination"):
        location_ids = {getattr(transfer, f"{side}_id")}
        assert transfer_allowed_actions(transfer, location_ids=location_ids) == [
            name for name in by_state if SIDE[name] == side]
    assert transfer_allowed_actions(transfer, location_ids={transfer.source_id, transfer.destination_id}) \
        == by_state
    assert transfer_allowed_actions(transfer, location_ids=set()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_outside_its_side_is_not_found_and_writes_nothing(action):
    state = sorted(TRANSFER_ACTIONS[action][0])[0]
    transfer = make_transfer(state, package=_isolated_package())
    other_end = "destination" if SIDE[action] == "source" else "source"
    before = (stock_snapshot(), list(Transfer.objects.values()), TransferTransition.objects.count())
    with pytest.raises(Transfer.DoesNotExist):
        transfer_run(action, transfer_id=transfer.pk, actor=OPERATOR,
                     location_ids={getattr(transfer, f"{other_end}_id")})
    assert (stock_snapshot(), list(Transfer.objects.values()), TransferTransition.objects.count()) == before
    done = transfer_run(action, transfer_id=transfer.pk, actor=OPERATOR,
                        location_ids={getattr(transfer, f"{SIDE[action]}_id")})
    assert done.status in TRANSFER_ACTIONS[action][1]


@pytest.mark.django_db
def test_the_system_may_only_cancel_or_ask_to():
    transfer = make_transfer(Status.WAITING, package=_isolated_package())
    with pytest.raises(ActorNotPermitted):
        transfer_run("dispatch", transfer_id=transfer.pk, actor=system_actor())
    assert transfer_allowed_actions(transfer, actor_kind="system") == ["cancel"]
    assert transfer_run("cancel", transfer_id=transfer.pk, actor=system_actor()).status == Status.CANCELLED


@pytest.mark.django_db
def test_a_batch_acts_per_transfer_and_reports_each():
    ready = make_transfer(Status.READY_TO_SHIPMENT, package=_isolated_package())
    done = make_transfer(Status.TRANSFERRED, package=_isolated_package())
    outcomes = transfer_act("dispatch", [Entry(ready.number, {"carrier": "ACME"}), Entry(done.number),
                                         Entry("NOPE")], actor=OPERATOR, key="number")
    assert [o.done for o in outcomes] == [True, False, False]
    assert outcomes[0].obj.status == Status.IN_TRANSIT and outcomes[0].obj.carrier == "ACME"
    assert outcomes[1].error.code == "transition_not_allowed"
    assert outcomes[2].obj is None
    done.refresh_from_db()
    assert done.status == Status.TRANSFERRED and done.version == 1


@pytest.mark.django_db
def test_receiving_two_transfers_of_a_package_at_once_readies_it_once():
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    first, second = (make_transfer(Status.IN_TRANSIT, package=package, quantities=(1,)) for _ in range(2))
    outcomes = transfer_act("receive", [Entry(first.pk), Entry(second.pk)], actor=OPERATOR)
    assert all(o.done for o in outcomes)
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING
    assert list(PackageTransition.objects.filter(package=package).values_list("action", flat=True)) == [
        "transfers_arrived"]
    assert all(level.on_hand == level.reserved == 1
               for level in StockLevel.objects.filter(location=package.location))


@pytest.mark.django_db
def test_receive_reserves_only_for_a_package_waiting_at_the_destination():
    """The packages app answers ``transfer_arriving``: a package re-placed elsewhere does not
    get the units reserved."""
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    transfer = make_transfer(Status.IN_TRANSIT, package=package, quantities=(2,))
    sku = transfer.items.get().sku
    package.location = StockLocationFactory()
    package.save(update_fields=["location"])
    transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)
    level = StockLevel.objects.get(location=transfer.destination, sku=sku)
    assert (level.on_hand, level.reserved) == (2, 0)
    assert TransferTransition.objects.get(action="receive").payload == {"reserved_for_package": False}


@pytest.mark.django_db
def test_receive_without_an_answer_puts_the_units_on_the_shelf():
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    make_transfer(Status.WAITING, package=package, quantities=(1,))  # keeps the package waiting
    transfer = make_transfer(Status.IN_TRANSIT, package=package, quantities=(2,))
    sku = transfer.items.get().sku
    receivers = transfer_arriving.receivers
    transfer_arriving.receivers = []
    transfer_arriving.sender_receivers_cache.clear()
    try:
        transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)
    finally:
        transfer_arriving.receivers = receivers
        transfer_arriving.sender_receivers_cache.clear()
    level = StockLevel.objects.get(location=transfer.destination, sku=sku)
    assert (level.on_hand, level.reserved) == (2, 0)
