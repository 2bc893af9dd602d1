"""The single-action fast path (``package_transition``, plain SQL) against the action's
service (``ACTION_SERVICES``, ORM): same outcome, same package row, log row, event and answer,
for every action without stock effects, from every state, in and out of a token's scope."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from locations.tests.factories import StockLocationFactory
from oms import row_sql
from oms.actors import Actor, user_actor
from oms.api_tokens import api_token_create
from oms.exceptions import OmsError
from oms.testing import run_concurrently
from packages.api.views import _action_response
from packages.models import Package, Status
from packages.services import (
    ACTION_SERVICES,
    BULK_TRANSITION_ACTIONS,
    package_transition,
)
from packages.tests.helpers import make_package
from packages.tests.test_bulk_transition import STOCK_FREE, TIMESTAMPS, _capture, _mixed_batch

pytestmark = pytest.mark.django_db

ANSWER_TIMES = (*TIMESTAMPS, "created_at", "invoice_date")


def _answer(package: Package) -> dict:
    """The API answer for ``package`` with its times reduced to set / unset (they differ by run)."""
    data = dict(_action_response(package).data)
    for name in ANSWER_TIMES:
        if name in data:
            data[name] = bool(data[name])
    data["transitions"] = [{**row, "created_at": bool(row["created_at"])} for row in data["transitions"]]
    return data


def _outcome(run, **kwargs) -> object:
    """``run(**kwargs)``'s answer (``_answer``), ``"not_found"`` or ``(error class, as_dict())``."""
    try:
        return _answer(run(**kwargs))
    except Package.DoesNotExist:
        return "not_found"
    except OmsError as exc:
        return type(exc).__name__, exc.as_dict()


def _token(location):
    user = get_user_model().objects.create_user(f"fast-{location.code}")
    token, _ = api_token_create(user=user, name="test", location_codes=[location.code])
    return token, user_actor(user, kind="api")


def test_the_fast_path_takes_exactly_the_actions_without_stock_effects():
    assert BULK_TRANSITION_ACTIONS == STOCK_FREE
    with pytest.raises(ValueError):
        package_transition(action="complete_packaging", number="X", actor=Actor("system", "system"))


@pytest.mark.parametrize("prepared", [False, pytest.param(True, marks=pytest.mark.postgres)],
                         ids=["plain", "prepared"])
@pytest.mark.parametrize("action", sorted(STOCK_FREE))
def test_fast_path_answers_and_writes_exactly_what_the_service_does(action, prepared, monkeypatch):
    if prepared:  # as served: persistent connections, statements prepared (oms.row_sql.execute)
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    entries, scope = _mixed_batch(action)
    token, actor = _token(scope.first().location)
    service = ACTION_SERVICES[action]

    through_service = _capture(lambda: [
        _outcome(service, number=number, packages=scope, actor=actor, **kwargs)
        for number, kwargs in entries])
    fast = _capture(lambda: [
        _outcome(package_transition, action=action, number=number, token=token, actor=actor, **kwargs)
        for number, kwargs in entries])

    assert fast["outcomes"] == through_service["outcomes"]
    assert fast["packages"] == through_service["packages"]
    assert fast["log"] == through_service["log"]
    assert fast["events"] == through_service["events"]
    assert row_sql.prepared_statements_on() is prepared
    kinds = {outcome if isinstance(outcome, str) else outcome[0] if isinstance(outcome, tuple) else "done"
             for outcome in fast["outcomes"]}
    assert {"done", "not_found", "ActionNotAllowed"} <= kinds, kinds


def test_an_actor_that_may_not_run_the_action_is_refused_as_by_the_service():
    package = make_package(Status.PENDING)
    system = Actor("system", "system")  # start_preparing is for operators and integrators

    fast = _capture(lambda: _outcome(package_transition, action="start_preparing",
                                     number=package.number, actor=system))
    through_service = _capture(lambda: _outcome(ACTION_SERVICES["start_preparing"],
                                                number=package.number, actor=system))

    assert fast["outcomes"] == through_service["outcomes"]
    assert fast["outcomes"][0] == "ActorNotPermitted"
    assert fast["log"] == fast["events"] == []


def test_fast_path_without_a_token_sees_every_location():
    package = make_package(Status.PENDING, location=StockLocationFactory())
    actor = Actor("api", "integrator")

    moved = package_transition(action="start_preparing", number=package.number, actor=actor)

    assert moved.status == Status.IN_PROGRESS
    package.refresh_from_db()
    assert (package.status, package.version) == (Status.IN_PROGRESS, 2)


def test_a_ship_on_the_fast_path_locks_the_row_by_number_inside_the_scope():
    package = make_package(Status.PACKAGING_COMPLETED)
    token, actor = _token(package.location)

    with CaptureQueriesContext(connection) as captured:
        package_transition(action="ship", number=package.number, token=token, actor=actor,
                           carrier="ACME", tracking_number="TRK-1")

    lock = captured.captured_queries[1]["sql"] if connection.vendor == "postgresql" else \
        next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT"))
    assert '"packages_package"."number" = ' in lock
    assert "apitoken_id" in lock
    if connection.features.has_select_for_update_of:
        assert lock.endswith('FOR UPDATE OF "packages_package"')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_fast_ships_of_one_package_move_it_once():
    package = make_package(Status.PACKAGING_COMPLETED)
    token, actor = _token(package.location)

    def ship(_):
        try:
            package_transition(action="ship", number=package.number, token=token, actor=actor,
                               carrier="ACME", tracking_number="TRK-1")
            return "done"
        except OmsError as exc:
            return type(exc).__name__

    results = run_concurrently(10, ship)

    assert sorted(results) == ["ActionNotAllowed"] * 9 + ["done"]
    package.refresh_from_db()
    assert (package.status, package.version) == (Status.SHIPPED, 2)
    assert package.transitions.filter(action="ship").count() == 1
