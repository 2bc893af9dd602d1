"""API of issue 7: webhook subscriptions and the ordered event feed."""

import threading
import time

import pytest
from django.db import transaction

from locations.tests.factories import StockLocationFactory
from oms.api.testing import api_client as _api_client
from oms.events.models import OutboxEvent
from oms.events.outbox import events_publish_many
from oms.webhooks.models import WebhookSubscription

pytestmark = pytest.mark.django_db

SUBS = "/api/v1/webhooks/subscriptions/"


def api_client(**kwargs):
    """A token of a staff user unless ``user`` is given (webhooks and the feed need staff)."""
    from django.contrib.auth import get_user_model

    kwargs.setdefault("user", get_user_model().objects.create_user(
        f"staff{get_user_model().objects.count()}", is_staff=True))
    return _api_client(**kwargs)


def test_subscription_crud_and_refusals(fake_dns):
    client, _ = api_client()
    response = client.post(SUBS, {"name": "erp", "target_url": "http://10.0.0.5/hook",
                                  "event_types": ["package.*"]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "target_url"
    fake_dns.answers["hooks.example.test"] = ["93.184.215.14"]
    response = client.post(SUBS, {"name": "erp", "target_url": "https://hooks.example.test/h",
                                  "event_types": ["package.*", "transfer.status.*"]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    rotated = client.post(f"{SUBS}{body['id']}/rotate-secret/").json()
    assert rotated["secret"] != body["secret"] and rotated["previous_secret_expires_at"]
    assert client.patch(f"{SUBS}{body['id']}/", {"is_active": False}, format="json").status_code == 200
    assert WebhookSubscription.objects.get().is_active is False
    for types in ([], ["nonsense"], ["package.**"], ["1"]):
        assert client.post(SUBS, {"name": "x", "target_url": "https://hooks.example.test/h",
                                  "event_types": types}, format="json").status_code == 400, types


def test_scoped_or_read_only_tokens_cannot_manage_subscriptions():
    scoped, _ = api_client(locations=[StockLocationFactory()])
    assert scoped.get(SUBS).status_code == 403
    assert scoped.get("/api/v1/events/").status_code == 403
    read_only, _ = api_client(read_only=True)
    assert read_only.get(SUBS).status_code == 200
    assert read_only.post(SUBS, {}, format="json").status_code == 403
    from django.contrib.auth import get_user_model

    operator, _ = api_client(user=get_user_model().objects.create_user("op"))  # all locations, not staff
    assert operator.get(SUBS).status_code == 403
    assert operator.get("/api/v1/events/").status_code == 403


def _publish(n, start=0):
    with transaction.atomic():
        events_publish_many([("test.event", "test", start + i, {"n": start + i}) for i in range(n)])


def _read_all(client, after=None, limit=300):
    seen = []
    while True:
        url = f"/api/v1/events/?limit={limit}" + (f"&after={after}" if after else "")
        body = client.get(url).json()
        seen += [e["payload"]["n"] for e in body["events"]]
        if not body["events"]:
            return seen, body["next"]
        after = body["next"]


@pytest.mark.django_db(transaction=True)  # the feed shows committed events only
def test_event_feed_pages_in_order_and_resumes_from_the_cursor():
    client, _ = api_client()
    _publish(1000)
    seen, cursor = _read_all(client)
    assert seen == list(range(1000))
    _publish(5, start=1000)
    more, _ = _read_all(client, after=cursor)
    assert more == list(range(1000, 1005))
    assert client.get("/api/v1/events/?after=garbage").status_code == 400
    assert client.get("/api/v1/events/?limit=0").status_code == 400
    event = client.get("/api/v1/events/?limit=1").json()["events"][0]
    assert set(event) == {"event", "payload", "cursor", "created_at"}
    assert event["event"]["uuid"] == OutboxEvent.objects.order_by("id").first().uuid.hex


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_event_feed_has_no_gap_while_transactions_commit_out_of_order():
    """10,000 events read while writers keep adding, one transaction holding its events
    uncommitted for a while (its ids are lower than events committed after it)."""
    from django.db import connection

    client, _ = api_client()
    _publish(10_000)
    stop = threading.Event()
    written = []

    def slow_writer():
        try:
            with transaction.atomic():
                events_publish_many([("test.event", "test", 0, {"n": 100_000 + i}) for i in range(50)])
                written.extend(range(100_000, 100_050))
                time.sleep(1.5)  # later transactions commit first
        finally:
            connection.close()

    def fast_writer():
        try:
            k = 200_000
            while not stop.is_set():
                with transaction.atomic():
                    events_publish_many([("test.event", "test", 0, {"n": k + i}) for i in range(10)])
                written.extend(range(k, k + 10))
                k += 10
                time.sleep(0.02)
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=fast_writer)]
    for thread in threads:
        thread.start()
    seen, cursor = [], None
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        body = client.get("/api/v1/events/?limit=500" + (f"&after={cursor}" if cursor else "")).json()
        seen += [e["payload"]["n"] for e in body["events"]]
        cursor = body["next"]
    stop.set()
    for thread in threads:
        thread.join()
    rest, _ = _read_all(client, after=cursor)
    seen += rest
    assert len(seen) == len(set(seen)), "an event came twice"
    assert set(seen) == set(range(10_000)) | set(written), "an event was skipped"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_event_feed_is_not_held_back_by_a_transaction_in_another_database():
    """Regression: the horizon was the oldest transaction of the whole server, so a long
    transaction in another database on it hid every newer event from the feed."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    other_name = f"{connection.settings_dict['NAME']}_feed_other"
    admin = psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{other_name}"')
        cursor.execute(f'CREATE DATABASE "{other_name}"')
    other = psycopg.connect(**{**params, "dbname": other_name})
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")  # holds a transaction id, stays open
        client, _ = api_client()
        _publish(3)
        events = client.get("/api/v1/events/").json()["events"]
        assert [e["payload"]["n"] for e in events] == [0, 1, 2]
    finally:
        other.close()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{other_name}"')
        admin.close()


@pytest.mark.parametrize("value", [0, 1, "0", "1", "false", "true", "yes", "off", "", None])
def test_is_active_takes_only_json_booleans(fake_dns, value):
    # Regression: DRF's BooleanField took 0, "false", "yes" … as booleans.
    fake_dns.answers["hooks.example.test"] = ["93.184.215.14"]
    client, _ = api_client()
    body = {"name": "erp", "target_url": "https://hooks.example.test/h", "event_types": ["package.*"]}
    response = client.post(SUBS, {**body, "is_active": value}, format="json")
    assert response.status_code == 400 and "is_active" in response.json()["errors"]
    assert not WebhookSubscription.objects.exists()
    created = client.post(SUBS, {**body, "is_active": False}, format="json").json()
    response = client.patch(f"{SUBS}{created['id']}/", {"is_active": value}, format="json")
    assert response.status_code == 400 and "is_active" in response.json()["errors"]
    assert WebhookSubscription.objects.get().is_active is False
    assert client.patch(f"{SUBS}{created['id']}/", {"is_active": True}, format="json").status_code == 200
    assert WebhookSubscription.objects.get().is_active is True


@pytest.mark.parametrize("change", [{"name": 12}, {"target_url": 1}, {"event_types": [1]},
                                    {"event_types": "package.*"}])
def test_strings_must_be_json_strings(fake_dns, change):
    fake_dns.answers["hooks.example.test"] = ["93.184.215.14"]
    client, _ = api_client()
    body = {"name": "erp", "target_url": "https://hooks.example.test/h", "event_types": ["package.*"]}
    response = client.post(SUBS, {**body, **change}, format="json")
    assert response.status_code == 400
    # a list's row is named by its path: event_types.0
    named = {name.split(".")[0] for name in response.json()["errors"]}
    assert set(change) <= named
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("body, field", [({"reason": 12}, "reason"),
                                         ({"reason": "x", "until": "tomorrow"}, "until")])
def test_pause_takes_a_string_reason_and_nothing_else(fake_dns, body, field):
    fake_dns.answers["hooks.example.test"] = ["93.184.215.14"]
    client, _ = api_client()
    created = client.post(SUBS, {"name": "erp", "target_url": "https://hooks.example.test/h",
                                 "event_types": ["package.*"]}, format="json").json()
    response = client.post(f"{SUBS}{created['id']}/pause/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert WebhookSubscription.objects.get().paused_at is None
