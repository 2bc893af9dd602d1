"""The transitions on the model are exactly the spec's table (no database needed)."""

import django_fsm as fsm
import pytest

from transfers.actions import ACTIONS as TRANSFER_ACTIONS
from transfers.models import Status, Transfer
from transfers.tests.spec import STATES
from transfers.tests.spec import TRANSFER_ACTIONS as SPEC_ACTIONS


def test_states_slugs_and_labels_match_the_spec():
    assert dict(Status.choices) == STATES
    assert [value for value, _label in Status.choices] == list(STATES)  # the table's order
    assert Transfer._meta.get_field("status").default == "waiting"


def test_model_transitions_match_the_spec_table():
    sources: dict[str, set] = {}
    targets: dict[str, set] = {}
    for transition in Transfer().get_all_status_transitions():
        sources.setdefault(transition.name, set()).add(transition.source)
        target = transition.target
        allowed = set(target.allowed_states) if isinstance(target, fsm.State) else {target}
        targets.setdefault(transition.name, set()).update(allowed)
    assert set(sources) == set(SPEC_ACTIONS) == set(TRANSFER_ACTIONS)
    for action, (spec_sources, spec_targets) in SPEC_ACTIONS.items():
        assert sources[action] == spec_sources, action
        assert targets[action] == spec_targets, action


@pytest.mark.parametrize("action", sorted(SPEC_ACTIONS))
@pytest.mark.parametrize("state", sorted(STATES))
def test_every_action_from_every_state(action, state):
    transfer = Transfer(status=state)
    sources, targets = SPEC_ACTIONS[action]
    method = getattr(transfer, action)
    kwargs = {"previous_status": Status.IN_TRANSIT} if action == "reject_cancellation" else {}
    if state not in sources:
        assert not fsm.can_proceed(method)
        with pytest.raises(fsm.TransitionNotAllowed):
            method(**kwargs)
        assert transfer.status == state
        return
    assert fsm.can_proceed(method)
    method(**kwargs)
    assert transfer.status in targets


@pytest.mark.parametrize("previous", [Status.READY_TO_SHIPMENT, Status.IN_TRANSIT])
def test_reject_cancellation_returns_to_the_state_given(previous):
    transfer = Transfer(status=Status.CANCELLATION_WAITING)
    transfer.reject_cancellation(previous_status=previous)
    assert transfer.status == previous


def test_reject_cancellation_refuses_a_state_outside_the_table():
    transfer = Transfer(status=Status.CANCELLATION_WAITING)
    with pytest.raises(fsm.InvalidResultState):
        transfer.reject_cancellation(previous_status=Status.WAITING)


def test_dispatch_records_carrier_and_tracking_number():
    transfer = Transfer(status=Status.READY_TO_SHIPMENT)
    transfer.dispatch(carrier="ACME", tracking_number="TRK1")
    assert (transfer.status, transfer.carrier, transfer.tracking_number) == (
        Status.IN_TRANSIT, "ACME", "TRK1")


def test_status_is_protected():
    transfer = Transfer(status=Status.WAITING)
    with pytest.raises(AttributeError):
        transfer.status = Status.TRANSFERRED
