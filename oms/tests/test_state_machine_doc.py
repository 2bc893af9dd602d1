"""docs/state-machine.md is read as the tests expect: every state and action, with the
document's phrases ("the state before", ranges, data updates) turned into sets."""

from oms.tests.state_machine_doc import package_spec, transfer_spec
from packages.actions import ACTIONS as PACKAGE_ACTIONS
from packages.models import Status as PackageStatus
from transfers.models import Status as TransferStatus


def test_package_tables():
    spec = package_spec()
    assert spec.states == {status.value: status.label for status in PackageStatus}
    # every declared action, with its "who", and nothing else
    assert set(spec.actions) == set(PACKAGE_ACTIONS) and set(spec.who) == set(spec.actions)
    assert spec.who == {name: action.who for name, action in PACKAGE_ACTIONS.items()}
    assert spec.actions["ship"] == ({500}, {550, 560, 700})
    assert spec.who["reschedule"] == "OAS" and spec.who["transfer_lost"] == "S"
    # "the state before 850": wherever request_cancellation came from
    assert spec.actions["reject_cancellation"][1] == spec.actions["request_cancellation"][0]
    # "560 (also a data update in 100–550)" → "700 from 560", unchanged elsewhere
    sources, targets = spec.actions["attach_invoice"]
    assert sources == {100, 200, 300, 400, 500, 550, 560}
    assert targets == {100, 200, 300, 400, 500, 550, 700}
    # "unchanged": every source is its own target (data actions, holds)
    assert spec.actions["update_shipment"] == ({700, 710, 720}, {700, 710, 720})
    assert spec.actions["block"][0] == spec.actions["block"][1] == spec.actions["unblock"][0]
    assert spec.actions["block"][0] == {100, 200, 300, 400, 500, 550, 560, 600, 850, 920, 930}


def test_transfer_tables():
    spec = transfer_spec()
    assert spec.states == {status.value: status.label for status in TransferStatus}
    assert len(spec.actions) == 7
    assert spec.actions["dispatch"] == ({"waiting", "ready_to_shipment"}, {"in_transit"})
    assert spec.actions["reject_cancellation"] == ({"cancellation_waiting"},
                                                   {"ready_to_shipment", "in_transit"})
