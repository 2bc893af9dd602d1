"""The single-action fast path (``package_transition``, plain SQL) against the action's
service (``ACTION_SERVICES``, ORM): same outcome, same package row, log row, event and answer,
for every action without stock effects, from every state, in and out of a token's scope."""

import datetime as dt
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from locations.tests.factories import StockLocationFactory
from oms import row_sql
from oms.actors import Actor, user_actor
from oms.api_tokens import api_token_create
from oms.exceptions import OmsError
from oms.models import OutboxEvent
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


def test_a_ship_on_the_fast_path_finds_the_row_by_number_inside_the_scope():
    package = make_package(Status.PACKAGING_COMPLETED)
    token, actor = _token(package.location)

    with CaptureQueriesContext(connection) as captured:
        package_transition(action="ship", number=package.number, token=token, actor=actor,
                           carrier="ACME", tracking_number="TRK-1")

    sent = [q["sql"] for q in captured.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))]
    read = sent[0]
    assert '"packages_package"."number" = ' in read
    assert "apitoken_id" in read
    if connection.vendor == "postgresql":  # optimistic: read, then write if the version is unchanged
        assert len(sent) == 2 and "FOR UPDATE" not in read
        assert sent[1].startswith('WITH w0 AS (UPDATE "packages_package"')
        assert ' AND "version" = 1 RETURNING "id")' in sent[1]
        assert sent[1].count("FROM w0 RETURNING") == 2  # the log row and the event only if it updated
    elif connection.features.has_select_for_update_of:
        assert read.endswith('FOR UPDATE OF "packages_package"')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [False, True], ids=["plain", "prepared"])
def test_a_change_between_the_read_and_the_write_is_not_lost(prepared, monkeypatch):
    """Another integrator attaches the invoice after the ship read the package and before it
    writes: the ship's guarded write finds a newer version and writes nothing, and the ship
    runs again the locking way, on the package with its invoice."""
    if prepared:
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    package = make_package(Status.PACKAGING_COMPLETED)
    token, actor = _token(package.location)
    guarded = row_sql.execute_guarded
    calls = []

    def interleaved(statements):
        calls.append(len(calls))
        if len(calls) == 1:
            def attach():
                try:
                    package_transition(action="attach_invoice", number=package.number, token=token,
                                       actor=actor, invoice_number="INV-9",
                                       invoice_date=dt.date(2026, 11, 30))
                finally:
                    connection.close()
            other = threading.Thread(target=attach)
            other.start()
            other.join()
        return guarded(statements)

    monkeypatch.setattr(row_sql, "execute_guarded", interleaved)
    shipped = package_transition(action="ship", number=package.number, token=token, actor=actor,
                                 carrier="ACME", tracking_number="TRK-1")

    assert calls == [0, 1]  # the ship's try, the invoice's write; the ship's retry locks instead
    package.refresh_from_db()
    assert (package.status, package.version, package.invoice_number, package.carrier) == (
        Status.SHIPPED, 3, "INV-9", "ACME")
    assert (shipped.version, shipped.invoice_number) == (3, "INV-9")
    actions = list(package.transitions.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["attach_invoice", "ship"] and actions.count("ship") == 1
    assert [t["action"] for t in _action_response(shipped).data["transitions"]][-2:] == [
        "attach_invoice", "ship"]
    events = OutboxEvent.objects.filter(aggregate_id=package.pk, payload__transition__action="ship")
    assert events.count() == 1


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
