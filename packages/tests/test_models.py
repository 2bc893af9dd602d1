"""The transitions on the model are exactly the spec's table (no database needed)."""

import django_fsm as fsm
import pytest

from packages.actions import ACTIONS
from packages.models import Package, Status
from packages.tests.spec import ALL_STATES, PACKAGE_ACTIONS, WHO


def test_status_codes_slugs_and_labels_match_the_spec():
    assert set(Status.values) == ALL_STATES
    assert Status(550).slug == "pending_shipping_label"
    assert Status(920).label == "Product Out of Stock"
    assert Status.from_slug("to_be_rescheduled") == 930


def test_model_transitions_match_the_spec_table():
    found: dict[str, set] = {}
    for transition in Package().get_all_status_transitions():
        found.setdefault(transition.name, set()).add(transition.source)
    assert set(found) == set(PACKAGE_ACTIONS)
    for action, (sources, _targets) in PACKAGE_ACTIONS.items():
        assert found[action] == sources, action


def test_who_may_run_each_action_matches_the_spec():
    assert {name: spec.who for name, spec in ACTIONS.items()} == WHO


@pytest.mark.parametrize("action", sorted(PACKAGE_ACTIONS))
@pytest.mark.parametrize("state", sorted(ALL_STATES))
def test_can_proceed_only_from_spec_sources(action, state):
    delivery = (Package.DeliveryType.CLICK_AND_COLLECT if action == "mark_ready_for_pickup"
                else Package.DeliveryType.SHIP)
    package = Package(status=state, delivery_type=delivery)
    assert fsm.can_proceed(getattr(package, action)) is (state in PACKAGE_ACTIONS[action][0])


def test_ship_refused_for_click_and_collect_and_pickup_refused_for_ship():
    assert not fsm.can_proceed(
        Package(status=500, delivery_type=Package.DeliveryType.CLICK_AND_COLLECT).ship)
    assert not fsm.can_proceed(
        Package(status=500, delivery_type=Package.DeliveryType.SHIP).mark_ready_for_pickup)


def test_illegal_transition_raises_and_keeps_state():
    package = Package(status=Status.SHIPPED)
    with pytest.raises(fsm.TransitionNotAllowed):
        package.start_preparing()
    assert package.status == Status.SHIPPED


def test_status_is_protected():
    package = Package(status=Status.PENDING)
    with pytest.raises(AttributeError):
        package.status = Status.SHIPPED


@pytest.mark.parametrize("kind", ["", "robot", "USER"])
def test_an_unknown_actor_kind_may_run_no_action(kind):
    """Regression: an unknown kind looked up as "" and "" is in every ``who`` string."""
    assert not any(action.may_run(kind) for action in ACTIONS.values())


def test_known_actor_kinds_follow_the_who_column():
    for action in ACTIONS.values():
        assert action.may_run("user") == ("O" in action.who)
        assert action.may_run("api") == ("A" in action.who)
        assert action.may_run("system") == ("S" in action.who)
