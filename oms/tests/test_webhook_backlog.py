"""Webhooks lose nothing while an endpoint fails or is paused: held deliveries, resume
through the API, pause after failing for a while, per-object order, no transaction open
during the HTTP call, only events after the subscription."""

import datetime as dt
import threading
from collections import defaultdict

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

import oms.webhooks.delivery as webhooks
from oms.actions.actors import Actor
from oms.actions.engine import Entry
from oms.events.models import OutboxEvent
from oms.events.outbox import events_publish_many
from oms.tests.test_webhooks import _subscribe
from oms.webhooks.delivery import (
    RETRY_DELAYS,
    webhook_deliver,
    webhook_deliver_due,
    webhook_fan_out,
    webhook_replay,
)
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from oms.webhooks.tasks import webhook_retry_due_task
from packages.engine import package_act
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
OPERATOR = Actor("user", "operator")
SUBS = "/api/v1/webhooks/subscriptions/"


@pytest.fixture
def clock(monkeypatch):
    """The webhook code's clock, stopped at the test's start: ``clock.advance(seconds)``."""

    class Clock:
        current = timezone.now()

        def now(self):
            return self.current

        def advance(self, seconds):
            self.current += dt.timedelta(seconds=seconds)

    fake = Clock()
    monkeypatch.setattr(webhooks, "timezone", fake)
    return fake


def _hand_on(capture):
    """What the outbox hand-off does: mark the new events dispatched and fan them out, then
    run the queued delivery tasks (eager Celery)."""
    with capture(execute=True):
        events = list(OutboxEvent.objects.filter(dispatched_at__isnull=True).order_by("pk"))
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
        webhook_fan_out(events=events)
    return events


def _publish(capture, rows):
    """Publish ``[(aggregate_id, n), …]`` as ``package.test`` events, not yet handed on."""
    with capture():  # the eager hand-off is not run: _hand_on does it
        with transaction.atomic():
            return events_publish_many([("package.test", "package", aggregate_id, {"n": n})
                                        for aggregate_id, n in rows])


def _api():
    from django.contrib.auth import get_user_model

    from oms.api.testing import api_client

    client, _ = api_client(user=get_user_model().objects.create_user("staff", is_staff=True))
    return client


def _arrived_ids(r):
    """Webhook ids the receiver accepted (2xx), in arrival order, first arrival only."""
    seen = []
    for request in r.requests:
        if 200 <= request["status"] < 300 and request["headers"]["webhook-id"] not in seen:
            seen.append(request["headers"]["webhook-id"])
    return seen


def test_events_raised_while_paused_arrive_after_resume_through_the_api(
        receiver, django_capture_on_commit_callbacks):
    r = receiver()
    client = _api()
    created = client.post(SUBS, {"name": "erp", "target_url": r.url, "event_types": ["package.*"]},
                          format="json")
    assert created.status_code == 201, created.json()
    url = f"{SUBS}{created.json()['id']}/"
    paused = client.post(f"{url}pause/", {"reason": "receiver maintenance"}, format="json")
    assert paused.status_code == 200, paused.json()
    assert paused.json()["is_paused"] and paused.json()["pause_reason"] == "receiver maintenance"

    events = _publish(django_capture_on_commit_callbacks, [(i, i) for i in range(10)])
    _hand_on(django_capture_on_commit_callbacks)
    webhook_retry_due_task()
    assert r.requests == []  # held while paused, not dropped
    body = client.get(url).json()
    assert body["backlog_count"] == 10
    assert body["backlog_oldest_age_seconds"] >= 0 and body["backlog_oldest_at"]

    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(f"{url}resume/")
    assert resumed.status_code == 200 and not resumed.json()["is_paused"]
    assert _arrived_ids(r) == [e.uuid.hex for e in events]  # all 10, oldest first
    assert client.get(url).json()["backlog_count"] == 0


def test_patching_read_only_pause_fields_is_refused_not_ignored(fake_dns):
    fake_dns.answers["hooks.example.test"] = ["93.184.215.14"]
    client = _api()
    body = client.post(SUBS, {"name": "erp", "target_url": "https://hooks.example.test/h",
                              "event_types": ["package.*"]}, format="json").json()
    url = f"{SUBS}{body['id']}/"
    client.post(f"{url}pause/")
    response = client.patch(url, {"paused_at": None}, format="json")
    assert response.status_code == 400
    assert "paused_at" in str(response.json())
    assert WebhookSubscription.objects.get().is_paused
    current = client.get(url).json()
    # sending back what was read (GET, change, PUT) is not a change of a read-only field
    put = client.put(url, {**current, "name": "erp 2"}, format="json")
    assert put.status_code == 200, put.json()
    assert WebhookSubscription.objects.get().name == "erp 2"


def test_subscription_gets_only_events_created_after_it(receiver, django_capture_on_commit_callbacks):
    r = receiver()
    before = _publish(django_capture_on_commit_callbacks, [(1, 1)])
    _subscribe(r.url)
    after = _publish(django_capture_on_commit_callbacks, [(1, 2)])
    _hand_on(django_capture_on_commit_callbacks)
    assert list(WebhookDelivery.objects.values_list("event_id", flat=True)) == [after[0].pk]
    assert _arrived_ids(r) == [after[0].uuid.hex]
    assert before[0].uuid.hex not in {q["headers"]["webhook-id"] for q in r.requests}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_database_transaction_is_open_while_the_webhook_post_runs(receiver):
    """Checked from the receiver, while the POST waits for its answer: the sending
    connection's state in pg_stat_activity (through another connection) and Django's view."""
    import psycopg

    connection.ensure_connection()
    sender_pid = connection.connection.info.backend_pid
    sender = connections["default"]  # this thread's wrapper (``connection`` is a per-thread proxy)
    params = connection.get_connection_params()
    seen = []

    def check():
        with psycopg.connect(**params) as other, other.cursor() as cursor:
            cursor.execute("SELECT state, xact_start FROM pg_stat_activity WHERE pid = %s",
                           [sender_pid])
            seen.append((*cursor.fetchone(), sender.in_atomic_block))
        other.close()

    r = receiver(on_post=check)
    subscription = _subscribe(r.url)
    with transaction.atomic():
        events_publish_many([("package.test", "package", 1, {"n": 1})])
    if not WebhookDelivery.objects.exists():  # the hand-off is not eager: fan out here
        with transaction.atomic():
            webhook_fan_out(events=list(OutboxEvent.objects.all()))
    webhook_retry_due_task()
    assert WebhookDelivery.objects.get(subscription=subscription).status == "delivered"
    assert seen == [("idle", None, False)]


def test_paused_after_failing_for_the_configured_time_not_after_a_count(
        settings, receiver, clock, django_capture_on_commit_callbacks):
    settings.WEBHOOK_PAUSE_AFTER_FAILING_SECONDS = 60
    r = receiver(statuses=(500,))
    subscription = _subscribe(r.url)

    def new_event(n):
        _publish(django_capture_on_commit_callbacks, [(n, n)])
        _hand_on(django_capture_on_commit_callbacks)
        subscription.refresh_from_db()

    for n in range(25):  # a burst of failed first attempts (a count used to pause at 20)
        new_event(n)
    assert len(r.requests) == 25
    assert not subscription.is_paused and subscription.failing_since is not None
    clock.advance(30)
    r.statuses = [200]
    new_event(100)  # one success ends the failing streak
    assert subscription.failing_since is None and not subscription.is_paused
    r.statuses = [500]
    clock.advance(10)
    new_event(101)
    failing_since = subscription.failing_since
    clock.advance(50)
    new_event(102)
    assert not subscription.is_paused  # failing for 50 s only
    clock.advance(11)
    new_event(103)
    assert subscription.is_paused and subscription.failing_since == failing_since
    sent = len(r.requests)
    new_event(104)
    webhook_retry_due_task()
    assert len(r.requests) == sent  # paused: held, not sent
    held = WebhookDelivery.objects.filter(subscription=subscription, status="pending")
    assert held.count() == 25 + 4  # every failed delivery is kept, and the new one
    assert not held.filter(next_attempt_at__isnull=False).exists()


def test_receiver_down_during_a_bulk_action_then_back_every_event_arrives_in_order(
        receiver, clock, django_capture_on_commit_callbacks):
    """A receiver down (refusing connections) for two minutes while 200 packages move twice
    in bulk, then back."""
    r = receiver()
    subscription = _subscribe(r.url)
    r.down()
    packages = [make_package(Status.PENDING) for _ in range(200)]
    for action, kwargs, actor in (
            ("start_preparing", {}, OPERATOR),
            ("attach_invoice", {"invoice_number": "INV-1", "invoice_date": dt.date(2026, 1, 1)},
             Actor("api", "erp"))):
        with django_capture_on_commit_callbacks():
            outcomes = package_act(action, [Entry(p.number, kwargs) for p in packages], actor=actor,
                                   key="number")
        assert all(outcome.done for outcome in outcomes), outcomes[:2]
        _hand_on(django_capture_on_commit_callbacks)
    events = list(OutboxEvent.objects.filter(aggregate_type="package").order_by("pk"))
    assert len(events) == 400
    attempted = set(WebhookDelivery.objects.filter(attempt_count=1).values_list("event_id", flat=True))
    first_events = {min(e.pk for e in events if e.aggregate_id == p.pk) for p in packages}
    assert attempted == first_events  # one attempt per package; its next event waits

    elapsed = 0
    while elapsed < 120:  # down: the retries due within these two minutes fail
        clock.advance(15)
        elapsed += 15
        with django_capture_on_commit_callbacks(execute=True):
            webhook_retry_due_task()
    assert not r.requests
    r.up()
    for _ in range(4):
        clock.advance(15)
        with django_capture_on_commit_callbacks(execute=True):
            webhook_retry_due_task()

    subscription.refresh_from_db()
    assert not subscription.is_paused
    arrived = _arrived_ids(r)
    assert set(arrived) == {e.uuid.hex for e in events}  # none missing
    position = {webhook_id: i for i, webhook_id in enumerate(arrived)}
    per_package = defaultdict(list)
    for event in events:
        per_package[event.aggregate_id].append(position[event.uuid.hex])
    assert all(order == sorted(order) for order in per_package.values())  # in sequence
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_given_up_delivery_does_not_hold_back_later_events_of_its_object(
        settings, receiver, clock, django_capture_on_commit_callbacks):
    # an endpoint refusing one message while it takes others is not paused; here it refuses
    # everything, so the pause (after an hour of failing) is put off
    settings.WEBHOOK_PAUSE_AFTER_FAILING_SECONDS = 10 * 24 * 3600
    r = receiver(statuses=(400,))
    _subscribe(r.url)
    first = _publish(django_capture_on_commit_callbacks, [(7, 1)])[0]
    _hand_on(django_capture_on_commit_callbacks)
    second = _publish(django_capture_on_commit_callbacks, [(7, 2)])[0]
    _hand_on(django_capture_on_commit_callbacks)
    assert len(r.requests) == 1  # the second waits behind the first
    for delay in RETRY_DELAYS[:-1]:  # the first is refused until the retries are used up
        clock.advance(delay.total_seconds())
        assert webhook_deliver_due(seconds=5) == 1
    r.statuses = [400, 200]
    clock.advance(RETRY_DELAYS[-1].total_seconds())
    assert webhook_deliver_due(seconds=5) == 2  # the first's last attempt, then the second
    statuses = dict(WebhookDelivery.objects.values_list("event_id", "status"))
    assert statuses == {first.pk: "failed", second.pk: "delivered"}
    assert _arrived_ids(r) == [second.uuid.hex]
    replayed = WebhookDelivery.objects.get(event=first)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_replay(delivery_ids=[replayed.pk]) == 1
    assert _arrived_ids(r) == [second.uuid.hex, first.uuid.hex]


def test_deliver_task_of_a_later_event_waits_for_the_earlier_one(
        receiver, django_capture_on_commit_callbacks):
    r = receiver(statuses=(500,))
    _subscribe(r.url)
    first, second = _publish(django_capture_on_commit_callbacks, [(3, 1), (3, 2)])
    _hand_on(django_capture_on_commit_callbacks)
    later = WebhookDelivery.objects.get(event=second)
    assert webhook_deliver(delivery_id=later.pk) == "waiting"
    later.refresh_from_db()
    assert later.next_attempt_at == WebhookDelivery.objects.get(event=first).next_attempt_at
    assert [q["headers"]["webhook-id"] for q in r.requests] == [first.uuid.hex]


def test_admin_shows_backlog_and_pauses_and_resumes(admin_client, receiver,
                                                    django_capture_on_commit_callbacks):
    r = receiver()
    subscription = _subscribe(r.url)
    changelist = "/admin/oms/webhooksubscription/"
    response = admin_client.post(changelist, {"action": "pause", "_selected_action": [subscription.pk]})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.is_paused
    _publish(django_capture_on_commit_callbacks, [(1, 1), (2, 2)])
    _hand_on(django_capture_on_commit_callbacks)
    page = admin_client.get(changelist)
    assert b"2 pending, oldest" in page.content
    assert admin_client.get(f"{changelist}{subscription.pk}/change/").status_code == 200
    assert admin_client.get(f"{changelist}add/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "resume", "_selected_action": [subscription.pk]})
    assert len(_arrived_ids(r)) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_retry_runs_send_each_delivery_once(receiver):
    """Two workers draining the same backlog: no deadlock, every event exactly once, and
    each object's events in order."""
    r = receiver()
    subscription = _subscribe(r.url)
    webhook_subscription = WebhookSubscription.objects.filter(pk=subscription.pk)
    webhook_subscription.update(paused_at=timezone.now())
    with transaction.atomic():
        events = events_publish_many([("package.test", "package", i % 10, {"n": i})
                                      for i in range(100)])
    if not WebhookDelivery.objects.exists():
        with transaction.atomic():
            webhook_fan_out(events=events)
    webhook_subscription.update(paused_at=None)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    errors = []

    def drain():
        try:
            webhook_deliver_due(seconds=20)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    ids = [q["headers"]["webhook-id"] for q in r.requests]
    assert sorted(ids) == sorted(e.uuid.hex for e in events)  # each exactly once
    for aggregate_id in range(10):
        mine = [e.uuid.hex for e in events if e.aggregate_id == aggregate_id]
        assert [i for i in ids if i in mine] == mine
