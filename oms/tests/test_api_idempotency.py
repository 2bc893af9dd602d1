"""Idempotency-Key: act once, replay the first response, 422 on a changed body."""

import pytest

from locations.models import StockLevel
from oms.api import idempotency
from oms.api.models import IdempotencyItem, IdempotencyRecord
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages.models import Package, PackageTransition, Status
from packages.tests.helpers import make_package
from packages.tests.test_concurrency import run_concurrently

pytestmark = pytest.mark.django_db

SHIP = {"carrier": "ACME", "tracking_number": "T1"}


def _ship_url(package):
    return f"/api/v1/packages/{package.number}/actions/ship/"


def test_same_key_ten_times_acts_once_and_returns_the_same_body():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    responses = [client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="ship-1")
                 for _ in range(10)]
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert "Idempotent-Replayed" not in responses[0]
    assert all(r["Idempotent-Replayed"] == "true" for r in responses[1:])
    assert all(r["ETag"] == '"2"' for r in responses)
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1
    assert Package.objects.get(pk=package.pk).version == 2


def test_same_key_with_another_body_is_422_and_does_nothing():
    package = make_package(Status.PACKAGING_COMPLETED)
    other = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    assert client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    response = client.post(_ship_url(package), {**SHIP, "tracking_number": "T2"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    response = client.post(_ship_url(other), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422  # same key on another path
    assert Package.objects.get(pk=other.pk).status == Status.PACKAGING_COMPLETED


def test_key_order_and_whitespace_of_the_json_body_do_not_matter():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    first = client.post(_ship_url(package), b'{"carrier": "ACME", "tracking_number": "T1"}',
                        content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    again = client.post(_ship_url(package), b'{"tracking_number":"T1","carrier":"ACME"}',
                        content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.content == again.content


def test_domain_errors_are_replayed_too():
    package = make_package(Status.IN_PROGRESS)
    client, _ = api_client()
    first = client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 409
    # the package becomes shippable meanwhile: the key still answers what it answered
    client.post(f"/api/v1/packages/{package.number}/actions/complete_packaging/", {}, format="json")
    again = client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 409 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"


def test_validation_errors_are_not_stored():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    assert client.post(_ship_url(package), {"carrier": "X"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert not IdempotencyRecord.objects.exists()


def test_keys_are_per_token():
    package = make_package(Status.PACKAGING_COMPLETED)
    other = make_package(Status.PACKAGING_COMPLETED)
    first, _ = api_client()
    second, _ = api_client()
    assert first.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    assert second.post(_ship_url(other), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9"])
def test_bad_keys_are_400(key):
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    response = client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


def test_a_response_lost_after_commit_is_replayed():
    """The client never saw the answer (connection dropped after commit): the retry replays."""
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="lost")  # answer lost
    record = IdempotencyRecord.objects.get(key="lost")
    assert record.response_status == 200 and record.completed_at is not None
    retry = client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="lost")
    assert retry.status_code == 200 and retry["Idempotent-Replayed"] == "true"
    assert retry.content.decode() == record.response_body
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1


def test_record_and_action_commit_together(monkeypatch):
    """A crash before the response is stored rolls the action back too: the retry acts once."""
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    real_complete = idempotency._complete

    def crash(record, response):
        raise RuntimeError("worker died before commit")

    monkeypatch.setattr(idempotency, "_complete", crash)
    client.raise_request_exception = True
    with pytest.raises(RuntimeError):
        client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert Package.objects.get(pk=package.pk).status == Status.PACKAGING_COMPLETED
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(idempotency, "_complete", real_complete)
    response = client.post(_ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 200
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1


def test_create_with_the_same_key_creates_one_package():
    location = make_package(Status.PENDING).location
    sku = StockLevel.objects.filter(location=location).first().sku
    client, _ = api_client()
    body = {"order_number": "ORD-9", "brand": "test-brand", "location": location.code,
            "delivery_type": "ship", "items": [{"sku": sku.code, "quantity": 1}]}
    first = client.post("/api/v1/packages/", body, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    again = client.post("/api/v1/packages/", body, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.content == again.content
    assert first["Location"] == again["Location"]
    assert Package.objects.filter(order_number="ORD-9").count() == 1


def test_stock_set_with_the_same_key_is_replayed():
    package = make_package(Status.PENDING)
    level = StockLevel.objects.get(location=package.location)
    client, _ = api_client()
    body = [{"location": package.location.code, "sku": level.sku.code, "on_hand": 9}]
    first = client.post("/api/v1/stock/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    StockLevel.objects.filter(pk=level.pk).update(on_hand=7)  # someone else changes it
    again = client.post("/api/v1/stock/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert StockLevel.objects.get(pk=level.pk).on_hand == 7  # not set again


# --- bulk ----------------------------------------------------------------------------------

def _bulk(numbers):
    return {"packages": [{"number": n, "carrier": "ACME", "tracking_number": f"T-{n}"} for n in numbers]}


def test_bulk_with_a_key_acts_once_and_replays():
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(3)]
    client, _ = api_client()
    body = _bulk([p.number for p in packages])
    first = client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    again = client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert first.json()["summary"]["done"] == 3
    assert PackageTransition.objects.filter(action="ship").count() == 3
    assert IdempotencyItem.objects.count() == 3


def test_interrupted_bulk_resumes_without_acting_twice(monkeypatch):
    # An action with stock effects, one package per chunk: the run dies on the third package.
    packages = [make_package(Status.IN_PROGRESS) for _ in range(4)]
    client, _ = api_client()
    client.raise_request_exception = True
    url = "/api/v1/packages/actions/complete_packaging/"
    body = {"packages": [{"number": p.number} for p in packages]}
    monkeypatch.setattr("packages.api.views.BULK_CHUNK_SIZE", 1)
    from packages import bulk

    real = bulk.package_bulk_outcome
    calls = []

    def dies_on_third(outcome):
        calls.append(outcome.key)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real(outcome)

    monkeypatch.setattr("packages.bulk.package_bulk_outcome", dies_on_third)
    with pytest.raises(RuntimeError):
        client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert PackageTransition.objects.filter(action="complete_packaging").count() == 2
    # a retry while the run's lease is still held is told to wait
    response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 409 and response.json()["code"] == "idempotency_request_in_progress"
    # the lease expires (the worker is gone): the retry resumes where it stopped
    IdempotencyRecord.objects.update(lease_until=None)
    monkeypatch.setattr("packages.bulk.package_bulk_outcome", real)
    response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 200
    assert response.json()["summary"] == {"done": 4, "not_allowed": 0, "not_found": 0, "failed": 0}
    assert PackageTransition.objects.filter(action="complete_packaging").count() == 4
    assert OutboxEvent.objects.filter(type="package.status.transitioned").count() == 4


def test_interrupted_bulk_resumes_after_the_last_committed_chunk(monkeypatch):
    # Ship, 2 packages per chunk through the package engine: the run dies in the second
    # chunk, after that chunk's rows and log rows were written, while its events are written.
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(4)]
    client, _ = api_client()
    client.raise_request_exception = True
    body = _bulk([p.number for p in packages])
    monkeypatch.setattr("packages.api.views.BULK_CHUNK_SIZE", 2)
    from oms.actions import engine
    from packages import bulk

    real_act, real_publish = bulk.package_act, engine.events_publish_many
    chunks = []

    def recording(action, entries, **kwargs):
        chunks.append([entry.key for entry in entries])
        return real_act(action, entries, **kwargs)

    def dies_in_second_chunk(events):
        if len(chunks) == 2:
            raise RuntimeError("worker killed")
        return real_publish(events)

    monkeypatch.setattr("packages.bulk.package_act", recording)
    monkeypatch.setattr("oms.actions.engine.events_publish_many", dies_in_second_chunk)
    with pytest.raises(RuntimeError):
        client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    # the first chunk committed whole, nothing of the second one stayed
    shipped = set(PackageTransition.objects.filter(action="ship").values_list("package__number", flat=True))
    assert shipped == {packages[0].number, packages[1].number}
    assert sorted(IdempotencyItem.objects.values_list("position", flat=True)) == [0, 1]
    assert list(Package.objects.filter(pk__in=[packages[2].pk, packages[3].pk])
                .values_list("status", "version")) == [(Status.PACKAGING_COMPLETED, 1)] * 2
    assert OutboxEvent.objects.filter(type="package.status.transitioned").count() == 2
    response = client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 409 and response.json()["code"] == "idempotency_request_in_progress"
    # the lease expires: the retry runs only the entries of the lost chunk
    IdempotencyRecord.objects.update(lease_until=None)
    monkeypatch.setattr("oms.actions.engine.events_publish_many", real_publish)
    chunks.clear()
    response = client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 200
    assert chunks == [[packages[2].number, packages[3].number]]
    data = response.json()
    assert data["summary"] == {"done": 4, "not_allowed": 0, "not_found": 0, "failed": 0}
    assert [r["number"] for r in data["results"]] == [p.number for p in packages]
    assert PackageTransition.objects.filter(action="ship").count() == 4
    assert OutboxEvent.objects.filter(type="package.status.transitioned").count() == 4
    assert {p.version for p in Package.objects.filter(pk__in=[p.pk for p in packages])} == {2}
    again = client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert again.content == response.content and again["Idempotent-Replayed"] == "true"


def test_bulk_stores_each_entrys_outcome_in_its_chunk(monkeypatch):
    monkeypatch.setattr("packages.api.views.BULK_CHUNK_SIZE", 2)
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(3)] + [make_package(Status.PENDING)]
    client, _ = api_client()
    body = _bulk([p.number for p in packages] + ["NOPE"])
    response = client.post("/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["done", "done", "done", "not_allowed", "not_found"]
    stored = dict(IdempotencyItem.objects.values_list("position", "result"))
    assert stored == dict(enumerate(results))


# --- concurrency (PostgreSQL) ------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_key_sent_ten_times_concurrently_acts_once():
    package = make_package(Status.PACKAGING_COMPLETED)
    first, _ = api_client()
    clients = [first] + [api_client(key=first.api_key)[0] for _ in range(9)]

    responses = run_concurrently(10, lambda i: clients[i].post(
        _ship_url(package), SHIP, format="json", HTTP_IDEMPOTENCY_KEY="same"))

    assert not any(isinstance(r, Exception) for r in responses), responses
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.content for r in responses}) == 1
    assert sum(1 for r in responses if r.has_header("Idempotent-Replayed")) == 9
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_bulk_key_concurrently_acts_once_per_package():
    packages = [make_package(Status.PACKAGING_COMPLETED) for _ in range(5)]
    first, _ = api_client()
    clients = [first] + [api_client(key=first.api_key)[0] for _ in range(5)]
    body = _bulk([p.number for p in packages])

    responses = run_concurrently(6, lambda i: clients[i].post(
        "/api/v1/packages/actions/ship/", body, format="json", HTTP_IDEMPOTENCY_KEY="bulk"))

    assert not any(isinstance(r, Exception) for r in responses), responses
    assert {r.status_code for r in responses} <= {200, 409}
    done = [r for r in responses if r.status_code == 200]
    assert len({r.content for r in done}) == 1
    assert PackageTransition.objects.filter(action="ship").count() == 5
