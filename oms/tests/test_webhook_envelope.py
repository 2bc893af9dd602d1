"""The envelope (type, uuid, occurred_at, sequence, status_type), the per-subscription type
style, and the order in which one package's deliveries reach a subscription."""

import datetime as dt
import json
import threading

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from oms.actions.actors import Actor
from oms.events.models import OutboxEvent
from oms.events.relay import outbox_dispatch_many
from oms.webhooks.delivery import webhook_subscription_save
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from oms.webhooks.tasks import webhook_retry_due_task
from packages.engine import package_run
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
ERP = Actor("api", "erp")
# start_preparing, complete_packaging, ship, mark_delivered: four versions, four states
ROUTE = [("start_preparing", {}), ("complete_packaging", {}),
         ("ship", {"carrier": "C", "tracking_number": "T"}), ("mark_delivered", {})]
ROUTE_STATES = ["in_progress", "packaging_completed", "shipped", "delivered"]


def _subscribe(url, types=("package.*",), style="transitioned"):
    return webhook_subscription_save(subscription=WebhookSubscription(
        name="erp", target_url=url, event_types=list(types), event_type_style=style))


def _run(package, action, inputs, callbacks):
    with callbacks(execute=True):
        package_run(action, package_id=package.pk, actor=ERP, **inputs)


def _bodies(receiver):
    return [json.loads(r["body"]) for r in receiver.requests]


def test_envelope_carries_occurred_at_sequence_and_status_type(receiver,
                                                               django_capture_on_commit_callbacks):
    r = receiver()
    _subscribe(r.url)
    package = make_package(Status.PACKAGING_COMPLETED)
    version_before = package.version
    _run(package, "ship", ROUTE[2][1], django_capture_on_commit_callbacks)
    (body,) = _bodies(r)
    event = OutboxEvent.objects.get()
    assert body["event"] == {
        "type": "package.status.transitioned", "uuid": event.uuid.hex,
        "occurred_at": event.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sequence": version_before + 1, "status_type": "package.status.shipped"}
    assert body["payload"]["package"]["version"] == body["event"]["sequence"]
    assert dt.datetime.fromisoformat(body["event"]["occurred_at"]) == event.created_at


def test_created_events_have_no_status_type():
    event = OutboxEvent.objects.create(type="transfer.status.created", aggregate_type="transfer",
                                       aggregate_id=1, payload={"transfer": {"version": 1}})
    assert event.envelope()["event"]["sequence"] == 1
    assert "status_type" not in event.envelope()["event"]
    assert "status_type" not in event.envelope(style="per_state")["event"]
    assert event.envelope(style="per_state")["event"]["type"] == "transfer.status.created"


def test_per_state_style_names_the_state_in_type(receiver, django_capture_on_commit_callbacks):
    ours, akinon = receiver(), receiver()
    _subscribe(ours.url)
    _subscribe(akinon.url, ["package.status.shipped"], style="per_state")
    package = make_package(Status.PACKAGING_COMPLETED)
    _run(package, "ship", ROUTE[2][1], django_capture_on_commit_callbacks)
    (theirs,), (mine,) = _bodies(akinon), _bodies(ours)
    assert theirs["event"]["type"] == theirs["event"]["status_type"] == "package.status.shipped"
    assert mine["event"]["type"] == "package.status.transitioned"
    assert {k: v for k, v in theirs["event"].items() if k != "type"} == \
        {k: v for k, v in mine["event"].items() if k != "type"}
    assert set(WebhookDelivery.objects.values_list("event_type", flat=True)) == {
        "package.status.shipped", "package.status.transitioned"}


@pytest.mark.django_db(transaction=True)  # the feed shows committed events only
def test_event_feed_serves_the_same_envelope(django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    from oms.api.testing import api_client

    package = make_package(Status.PACKAGING_COMPLETED)
    _run(package, "ship", ROUTE[2][1], django_capture_on_commit_callbacks)
    client, _ = api_client(user=get_user_model().objects.create_user("staff", is_staff=True))
    (item,) = client.get("/api/v1/events/").json()["events"]
    envelope = OutboxEvent.objects.get().envelope()
    assert item["event"] == envelope["event"] and item["payload"] == envelope["payload"]
    assert item["event"]["status_type"] == "package.status.shipped"


@pytest.mark.parametrize("statuses", [
    (500, 200),                  # the first event fails once
    (200, 500, 500, 200),        # the second event fails twice
    (500, 500, 500, 200),        # the first fails three times while the others wait
])
def test_one_packages_deliveries_arrive_in_sequence_order(receiver, statuses,
                                                          django_capture_on_commit_callbacks):
    r = receiver(statuses=statuses)
    _subscribe(r.url)
    package = make_package(Status.PENDING)
    for action, inputs in ROUTE:
        _run(package, action, inputs, django_capture_on_commit_callbacks)
    for _ in range(10):  # time passes: every retry becomes due
        if not WebhookDelivery.objects.filter(status="pending").exists():
            break
        WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            webhook_retry_due_task()
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    accepted = [b for b, req in zip(_bodies(r), r.requests, strict=True) if req["status"] == 200]
    assert [b["event"]["status_type"] for b in accepted] == [f"package.status.{s}" for s in ROUTE_STATES]
    sequences = [b["event"]["sequence"] for b in _bodies(r)]
    assert sequences == sorted(sequences)  # retries repeat a sequence, none goes back
    assert [b["event"]["sequence"] for b in accepted] == \
        list(range(package.version + 1, package.version + 1 + len(ROUTE)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_later_event_waits_for_an_earlier_one_another_relay_is_still_handing_on(receiver):
    """Two relays: one has claimed (locked) a package's first event and not yet created its
    deliveries; the other claims the package's second event. The second must not be sent
    before the first."""
    r = receiver()
    _subscribe(r.url)
    package = make_package(Status.PENDING)
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):  # the relays hand on, not the commit
        for action, inputs in ROUTE[:2]:
            package_run(action, package_id=package.pk, actor=ERP, **inputs)
    first, second = OutboxEvent.objects.order_by("pk")
    claimed, release = threading.Event(), threading.Event()

    def slow_relay():
        try:
            with transaction.atomic():
                list(OutboxEvent.objects.select_for_update().filter(pk=first.pk))
                claimed.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_relay)
    thread.start()
    try:
        assert claimed.wait(10)
        assert outbox_dispatch_many() == 1  # the other relay skips the locked event
        assert r.requests == []  # the second event waits for the first
    finally:
        release.set()
        thread.join(10)
    assert outbox_dispatch_many() == 1  # the first event, handed on now
    webhook_retry_due_task()  # the beat: anything still due
    states = [json.loads(req["body"])["event"]["status_type"] for req in r.requests]
    assert states == ["package.status.in_progress", "package.status.packaging_completed"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
