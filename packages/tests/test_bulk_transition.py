"""Bulk actions through the package engine (``package_act`` on many packages, the bulk API):
the same outcomes, rows, log rows and events as one package at a time, one transaction per
chunk, locks under concurrency."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from locations.tests.factories import StockLocationFactory
from oms.actions import engine
from oms.actions.actors import Actor, user_actor
from oms.actions.engine import ActorNotPermitted, Entry
from oms.actions.errors import InvalidInput
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from oms.testing import run_concurrently
from packages.bulk import package_bulk_outcome
from packages.engine import package_act
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

TIMESTAMPS = ("updated_at", "status_changed_at", "shipped_at", "delivered_at", "label_printed_at")
# The engine's statements for a batch of any size: the lock, the items, one update, one
# insert of log rows, one of events, and the savepoint around them (one to spare).
BATCH_QUERIES = 8
STOCK_FREE = {"start_preparing", "ship", "confirm_label_printed", "attach_invoice", "mark_ready_for_pickup",
              "hand_over", "record_delivery_attempt", "mark_delivered", "mark_delivery_failed",
              "request_cancellation"}


def _body(action, variant=0):
    """A valid body for ``action`` (variant 0) or one the action refuses / must normalise."""
    if action == "ship":
        return [{"carrier": "ACME", "tracking_number": "TRK-1"},
                {"carrier": " ACME ", "tracking_number": "has space"},
                {"carrier": "  ", "tracking_number": "T"}][variant]
    if action == "attach_invoice":
        return [{"invoice_number": " NF-1 ", "invoice_date": dt.date(2026, 11, 30), "invoice_url": ""},
                {"invoice_number": "  ", "invoice_date": dt.date(2026, 11, 30)},
                {"invoice_number": "NF-2", "invoice_date": None}][variant]
    if action == "mark_delivery_failed":
        return [{"reason": " address not found "}, {"reason": "   "}, {"reason": "x" * 300}][variant]
    if action == "start_preparing" or action == "confirm_label_printed":
        return {}
    # the log keeps 255 characters of a reason, the event all of it; cancellation_reason is a
    # 255-character column (the API refuses longer reasons)
    longest = 255 if action == "request_cancellation" else 300
    return [{"reason": " late "}, {}, {"reason": "r" * longest}][variant]


def _mixed_batch(action):
    """``(entries, scope)``: packages in every state, both delivery types, brands with and
    without ship gates and one with ``action`` switched off, one replacement package, each
    with a valid body and some with refused ones; an unknown number and one out of scope."""
    home, away = StockLocationFactory(), StockLocationFactory()
    brands = [BrandFactory(slug="plain"),
              BrandFactory(slug="gated", requires_shipping_label=True, requires_invoice=True),
              BrandFactory(slug="invoiced", requires_invoice=True),
              BrandFactory(slug="off", disabled_actions=[action])]
    old = make_package(Status.CANCELED, location=home, brand=brands[0])
    entries, variants = [], 0
    for state in Status:
        for delivery in Package.DeliveryType.values:
            for brand in brands:
                package = make_package(state, brand=brand, location=home, delivery_type=delivery,
                                       quantities=(2, 1))
                entries.append((package.number, _body(action, variants % 3 if brand.slug == "plain" else 0)))
                variants += 1
    replacement = make_package(Status.PACKAGING_COMPLETED, location=home, brand=brands[0], replaces=old)
    outside = make_package(Status.PACKAGING_COMPLETED, location=away, brand=brands[0])
    for number in (replacement.number, "NOPE", outside.number):
        entries.append((number, _body(action)))
    entries.reverse()  # request order differs from pk (lock) order
    return entries, Package.objects.filter(location=home)


def _capture(run):
    """Run ``run()`` in a savepoint that is rolled back; return what it answered and wrote."""
    before_packages = {row["id"]: row for row in Package.objects.values()}
    last_log = PackageTransition.objects.order_by("-id").values_list("id", flat=True).first() or 0
    last_event = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    class Rollback(Exception):
        pass

    captured = {}
    try:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as queries:
                captured["outcomes"] = run()
            captured["queries"] = len(queries)
            rows = []
            for row in Package.objects.order_by("pk").values():
                before = before_packages[row["id"]]
                rows.append({name: (value if name not in TIMESTAMPS
                                    else "same" if value == before[name] else "set" if value else "cleared")
                             for name, value in row.items()})
            captured["packages"] = rows
            captured["log"] = list(PackageTransition.objects.filter(id__gt=last_log).order_by("id").values(
                "package_id", "from_status", "to_status", "action", "actor", "actor_user_id", "reason",
                "payload"))
            captured["events"] = list(OutboxEvent.objects.filter(id__gt=last_event).order_by("id").values(
                "type", "aggregate_type", "aggregate_id", "payload"))
            raise Rollback
    except Rollback:
        pass
    return captured


def _outcomes(action, entries, *, actor, packages):
    return [package_bulk_outcome(outcome) for outcome in package_act(
        action, [Entry(number, dict(kwargs)) for number, kwargs in entries], actor=actor,
        packages=packages, key="number")]


@pytest.mark.parametrize("action", sorted(STOCK_FREE))
def test_a_batch_answers_and_writes_exactly_what_one_package_at_a_time_does(action):
    entries, scope = _mixed_batch(action)
    user = get_user_model().objects.create_user("integrator")
    actor = user_actor(user, kind="api")

    one_by_one = _capture(lambda: [
        outcome for entry in entries for outcome in _outcomes(action, [entry], actor=actor, packages=scope)])
    batch = _capture(lambda: _outcomes(action, entries, actor=actor, packages=scope))

    assert batch["outcomes"] == one_by_one["outcomes"]
    assert batch["packages"] == one_by_one["packages"]
    assert batch["log"] == one_by_one["log"]
    assert batch["events"] == one_by_one["events"]
    results = {outcome["result"] for outcome in batch["outcomes"]}
    assert {"done", "not_allowed", "not_found"} <= results
    assert batch["queries"] <= BATCH_QUERIES < one_by_one["queries"], (
        batch["queries"], one_by_one["queries"])


def test_an_actor_that_may_not_run_the_action_fails_each_package():
    package = make_package(Status.PENDING)
    system = Actor("system", "system")  # start_preparing is for operators and integrators
    [outcome] = package_act("start_preparing", [Entry(package.number)], actor=system, key="number")
    assert isinstance(outcome.error, ActorNotPermitted)
    answer = package_bulk_outcome(outcome)
    assert answer["result"] == "failed" and answer["error"]["code"] == "actor_not_permitted"
    package.refresh_from_db()
    assert package.status == Status.PENDING and package.version == 1
    assert not PackageTransition.objects.filter(package=package).exists()
    assert not OutboxEvent.objects.exists()


def test_repeated_numbers_and_unknown_actions_are_refused():
    package = make_package(Status.PENDING)
    with pytest.raises(ValueError):
        package_act("start_preparing", [Entry(package.number)] * 2, actor=Actor("api", "i"), key="number")
    with pytest.raises(ValueError):
        package_act("fly", [Entry(package.number)], actor=Actor("api", "i"), key="number")
    package.refresh_from_db()
    assert package.version == 1


# --- through the API -------------------------------------------------------------------------

def test_bulk_ship_mixed_batch_through_the_api():
    home, away = StockLocationFactory(), StockLocationFactory()
    brand, off = BrandFactory(slug="plain"), BrandFactory(slug="no-ship", disabled_actions=["ship"])
    ready = [make_package(Status.PACKAGING_COMPLETED, location=home, brand=brand) for _ in range(3)]
    early = make_package(Status.IN_PROGRESS, location=home, brand=brand)
    disabled = make_package(Status.PACKAGING_COMPLETED, location=home, brand=off)
    outside = make_package(Status.PACKAGING_COMPLETED, location=away, brand=brand)
    collect = make_package(Status.PACKAGING_COMPLETED, location=home, brand=brand,
                           delivery_type=Package.DeliveryType.CLICK_AND_COLLECT)
    client, _ = api_client(locations=[home])
    numbers = [ready[0].number, early.number, "NOPE", outside.number, disabled.number, ready[1].number,
               collect.number, ready[2].number]
    body = {"packages": [{"number": n, "carrier": "ACME", "tracking_number": f"T-{i}"}
                         for i, n in enumerate(numbers)]}
    body["packages"][-1]["tracking_number"] = "with space"

    # A tracking number that breaks the published pattern fails the request (as any entry
    # the schema refuses), before any package is touched.
    refused = client.post("/api/v1/packages/actions/ship/", body, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["packages.7.tracking_number"]
    assert not PackageTransition.objects.filter(action="ship").exists()

    body["packages"][-1]["tracking_number"] = "T-7"
    response = client.post("/api/v1/packages/actions/ship/", body, format="json")

    assert response.status_code == 200
    data = response.json()
    assert [r["number"] for r in data["results"]] == numbers
    assert [r["result"] for r in data["results"]] == [
        "done", "not_allowed", "not_found", "not_found", "not_allowed", "done", "not_allowed", "done"]
    assert data["summary"] == {"done": 3, "not_allowed": 3, "not_found": 2, "failed": 0}
    by_number = {r["number"]: r for r in data["results"]}
    assert by_number[ready[0].number] == {
        "number": ready[0].number, "result": "done", "version": 2, "allowed_actions": [], "error": None,
        "status": {"code": 700, "slug": "shipped", "label": "Shipped"}}
    assert by_number[early.number]["status"]["slug"] == "in_progress"
    assert by_number[early.number]["error"]["code"] == "transition_not_allowed"
    assert by_number[disabled.number]["error"]["code"] == "action_disabled"
    assert by_number[collect.number]["error"]["code"] == "delivery_type_mismatch"
    assert by_number["NOPE"] == {"number": "NOPE", "result": "not_found", "status": None, "version": None,
                                 "allowed_actions": [], "error": None}
    assert set(PackageTransition.objects.filter(action="ship").values_list("package_id", flat=True)) == {
        ready[0].pk, ready[1].pk, ready[2].pk}
    assert OutboxEvent.objects.filter(type="package.status.transitioned").count() == 3
    untouched = Package.objects.filter(pk__in=[early.pk, disabled.pk, outside.pk, collect.pk])
    assert set(untouched.values_list("version", flat=True)) == {1}


def test_bulk_chunks_split_a_request_and_keep_the_order(monkeypatch):
    monkeypatch.setattr("packages.api.views.BULK_CHUNK_SIZE", 3)
    packages = [make_package(Status.PENDING if i % 4 else Status.IN_PROGRESS) for i in range(10)]
    client, _ = api_client()
    calls = []

    def recording(action, entries, **kwargs):
        calls.append(len(entries))
        return package_act(action, entries, **kwargs)

    monkeypatch.setattr("packages.bulk.package_act", recording)
    response = client.post("/api/v1/packages/actions/start_preparing/",
                           {"packages": [{"number": p.number} for p in packages]}, format="json")
    assert calls == [3, 3, 3, 1]
    results = response.json()["results"]
    assert [r["number"] for r in results] == [p.number for p in packages]
    assert [r["result"] for r in results] == ["not_allowed" if i % 4 == 0 else "done" for i in range(10)]


# --- a database error in a chunk -------------------------------------------------------------

def test_a_database_error_in_a_chunk_leaves_nothing_of_it_written(monkeypatch):
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(5)]
    failures = []

    def fails(events):
        failures.append(len(events))
        raise IntegrityError("simulated: the outbox insert failed")

    monkeypatch.setattr("oms.actions.engine.events_publish_many", fails)
    client, _ = api_client()
    client.raise_request_exception = True
    body = {"packages": [{"number": p.number, "carrier": "ACME", "tracking_number": f"T{i}"}
                         for i, p in enumerate(packages)]}
    with pytest.raises(IntegrityError):
        client.post("/api/v1/packages/actions/ship/", body, format="json")

    assert failures == [5]  # the chunk got as far as its events, then failed
    assert set(Package.objects.filter(pk__in=[p.pk for p in packages]).values_list("status", "version")) == {
        (Status.PACKAGING_COMPLETED, 1)}
    assert not PackageTransition.objects.filter(action="ship").exists()
    assert not OutboxEvent.objects.exists()


@pytest.mark.postgres
def test_an_overlong_text_is_refused_for_its_package_and_never_cut():
    # Regression: a batch's set-based UPDATE casts to the column type on PostgreSQL, which
    # cut a 65-character tracking number to 64 instead of failing.
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(3)]
    entries = [Entry(p.number, {"carrier": "ACME", "tracking_number": "T" * (65 if i == 2 else 5)})
               for i, p in enumerate(packages)]
    outcomes = package_act("ship", entries, actor=Actor("api", "i"), key="number")
    assert [o.done for o in outcomes] == [True, True, False]
    assert isinstance(outcomes[2].error, InvalidInput)
    assert outcomes[2].error.extra["field"] == "tracking_number"
    refused = Package.objects.get(pk=packages[2].pk)
    assert (refused.status, refused.version, refused.tracking_number) == (Status.PACKAGING_COMPLETED, 1, "")


def test_a_real_database_error_leaves_nothing_of_the_chunk_written(monkeypatch):
    # The events' INSERT fails in the database (a NOT NULL column given NULL): the chunk, with
    # the packages already updated, is rolled back as a whole and the error propagates.
    def failing_insert(events):
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {OutboxEvent._meta.db_table} (type) VALUES (NULL)")

    monkeypatch.setattr(engine, "events_publish_many", failing_insert)
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(3)]
    entries = [Entry(p.number, {"carrier": "ACME", "tracking_number": f"T{i}"})
               for i, p in enumerate(packages)]
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            package_act("ship", entries, actor=Actor("api", "i"), packages=Package.objects.all(),
                        key="number")
    assert set(Package.objects.filter(pk__in=[p.pk for p in packages]).values_list("status", "version")) == {
        (Status.PACKAGING_COMPLETED, 1)}
    assert not PackageTransition.objects.filter(action="ship").exists()
    assert not OutboxEvent.objects.exists()


# --- concurrency (PostgreSQL) ------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_a_single_ship_racing_a_bulk_ship_on_the_same_package_one_wins(round_):
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(40)]
    contested = packages[round_ * 13]
    client, _ = api_client()
    other = api_client(key=client.api_key)[0]
    body = {"packages": [{"number": p.number, "carrier": "ACME", "tracking_number": f"B{i}"}
                         for i, p in enumerate(packages)]}

    bulk, single = run_concurrently(2, lambda i: (
        client.post("/api/v1/packages/actions/ship/", body, format="json") if i == 0 else
        other.post(f"/api/v1/packages/{contested.number}/actions/ship/",
                   {"carrier": "ACME", "tracking_number": "SINGLE"}, format="json")))

    assert not isinstance(bulk, Exception) and not isinstance(single, Exception), (bulk, single)
    assert bulk.status_code == 200
    contested_result = next(r for r in bulk.json()["results"] if r["number"] == contested.number)
    if single.status_code == 200:
        assert contested_result["result"] == "not_allowed"
        assert contested_result["status"]["slug"] == "shipped"
    else:
        assert single.status_code == 409 and contested_result["result"] == "done"
    assert bulk.json()["summary"]["done"] == 39 + (single.status_code == 409)
    assert PackageTransition.objects.filter(package=contested, action="ship").count() == 1
    events = OutboxEvent.objects.filter(aggregate_id=contested.pk, type="package.status.transitioned")
    assert events.count() == 1
    contested.refresh_from_db()
    assert contested.version == 2
    assert contested.tracking_number == ("SINGLE" if single.status_code == 200 else f"B{round_ * 13}")
    assert PackageTransition.objects.filter(action="ship").count() == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_bulk_requests_in_opposite_orders_do_not_deadlock():
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(60)]
    client, _ = api_client()
    others = [api_client(key=client.api_key)[0] for _ in range(3)]
    clients = [client, *others]
    orders = [packages, packages[::-1], packages[30:] + packages[:30], packages[::2] + packages[1::2]]

    responses = run_concurrently(4, lambda i: clients[i].post(
        "/api/v1/packages/actions/ship/", format="json", data={"packages": [
            {"number": p.number, "carrier": "C", "tracking_number": f"R{i}"} for p in orders[i]]}))

    assert not any(isinstance(r, Exception) for r in responses), responses
    assert [r.status_code for r in responses] == [200] * 4
    assert sum(r.json()["summary"]["done"] for r in responses) == 60
    assert sum(r.json()["summary"]["not_allowed"] for r in responses) == 180
    assert PackageTransition.objects.filter(action="ship").count() == 60
    assert OutboxEvent.objects.filter(type="package.status.transitioned").count() == 60
    assert set(Package.objects.values_list("version", flat=True)) == {2}
