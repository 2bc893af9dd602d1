"""The outbox relay (``oms.events.relay``): web processes only write outbox rows; the relay
claims them oldest first in batches, hands each on once, and keeps what the broker refused."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

from locations.models import StockLevel
from locations.services import stock_level_set
from oms.actions.actors import Actor
from oms.events import relay as outbox_relay
from oms.events.models import OutboxEvent
from oms.events.outbox import event_feed, event_publish
from oms.events.relay import HandOffFailed, OutboxRelay, outbox_dispatch_many
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from packages.engine import package_run
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
# Production: nothing happens in the committing process after commit.
not_eager = override_settings(CELERY_TASK_ALWAYS_EAGER=False)


@pytest.fixture
def fanned_out(monkeypatch):
    """The id lists given to ``webhook_fan_out``, one per claimed batch."""
    batches = []
    monkeypatch.setattr("oms.webhooks.delivery.webhook_fan_out",
                        lambda *, events: batches.append([e.pk for e in events]))
    return batches


def _publish(n: int) -> list[int]:
    return [event_publish(type="package.created", aggregate_type="package", aggregate_id=i,
                          payload={"n": i}).pk for i in range(n)]


@not_eager
def test_a_committed_action_leaves_no_work_in_the_web_process(django_capture_on_commit_callbacks):
    """Regression: a stock rise (cancel, refuse, stock set) queued a Celery message after
    commit in the request thread, which blocks forever on a hung broker."""
    package = make_package(Status.PENDING)
    waiting = make_package(Status.PRODUCT_OUT_OF_STOCK, on_hand=0)
    level = StockLevel.objects.select_related("location", "sku").get(sku=waiting.items.get().sku)
    with django_capture_on_commit_callbacks() as callbacks:
        package_run("cancel", package_id=package.pk, actor=Actor("user", "operator"))
        stock_level_set(location=level.location, sku=level.sku, on_hand=3)
    assert callbacks == []
    assert set(OutboxEvent.objects.values_list("type", flat=True)) == {
        "package.status.transitioned", "stock.level.raised"}
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=False).exists()


@not_eager
def test_drain_hands_on_oldest_first_in_batches(fanned_out):
    ids = _publish(7)
    assert OutboxRelay(batch_size=3).drain() == 7
    assert fanned_out == [ids[0:3], ids[3:6], ids[6:7]]
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert OutboxRelay(batch_size=3).drain() == 0  # each event once
    assert len(fanned_out) == 3


@not_eager
def test_a_backlog_drains_in_one_round_and_new_events_follow(fanned_out):
    """A backlog is not re-queued a fixed number a minute: one round drains it, and events
    committed while it drains are handed on in the same round, after it."""
    backlog = _publish(25)
    relay = OutboxRelay(batch_size=10)
    real = outbox_relay.outbox_dispatch_many
    newer = []

    def dispatch_and_commit_more(**kwargs):
        handed = real(**kwargs)
        if not newer:
            newer.extend(_publish(2))  # committed during the drain
        return handed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outbox_relay, "outbox_dispatch_many", dispatch_and_commit_more)
        assert relay.drain() == 27
    assert [pk for batch in fanned_out for pk in batch] == backlog + newer


@not_eager
def test_the_command_drains_once(capsys):
    _publish(3)
    call_command("outbox_relay", "--once", "--batch", "2")
    assert "3 event(s) handed on" in capsys.readouterr().out
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


@not_eager
def test_a_stock_rise_reaches_the_targeted_recheck_and_no_subscriber(monkeypatch):
    WebhookSubscription.objects.create(name="all", target_url="http://127.0.0.1:9/", event_types=["*"])
    waiting = make_package(Status.PRODUCT_OUT_OF_STOCK, on_hand=0)
    sku = waiting.items.get().sku
    other = make_package(Status.PRODUCT_OUT_OF_STOCK, on_hand=0, location=waiting.location)
    level = StockLevel.objects.select_related("location", "sku").get(sku=sku)
    stock_level_set(location=level.location, sku=sku, on_hand=1)
    event = OutboxEvent.objects.get(type="stock.level.raised")
    assert event.payload == {"location_id": waiting.location_id, "sku_ids": [sku.pk]}
    assert event not in event_feed()  # internal: not in the public feed
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):  # the worker's part, in-process
        OutboxRelay().drain()
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert waiting.status == Status.IN_PROGRESS
    assert other.status == Status.PRODUCT_OUT_OF_STOCK  # its SKU did not rise: not touched
    assert not WebhookDelivery.objects.filter(event=event).exists()


@not_eager
def test_a_refused_internal_hand_off_stays_in_the_outbox(monkeypatch, fanned_out):
    waiting = make_package(Status.PRODUCT_OUT_OF_STOCK, on_hand=0)
    level = StockLevel.objects.select_related("location", "sku").get(sku=waiting.items.get().sku)
    stock_level_set(location=level.location, sku=level.sku, on_hand=1)
    public = _publish(1)

    def broker_down(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("packages.tasks.package_recheck_for_stock_task.delay", broker_down)
    relay = OutboxRelay(poll_seconds=0.1)
    with pytest.raises(HandOffFailed):
        outbox_dispatch_many()
    rise = OutboxEvent.objects.get(type="stock.level.raised")
    assert rise.dispatched_at is None  # tried again next round
    assert OutboxEvent.objects.get(pk=public[0]).dispatched_at is not None
    assert fanned_out == [public]
    assert relay.run_once() > relay.poll_seconds  # the relay pauses, then tries again
    sent = []
    monkeypatch.setattr("packages.tasks.package_recheck_for_stock_task.delay",
                        lambda **kwargs: sent.append(kwargs))
    assert relay.run_once() == relay.poll_seconds
    assert sent == [rise.payload]


@not_eager
def test_a_broker_that_does_not_answer_pauses_the_relay_before_it_claims(monkeypatch, fanned_out):
    _publish(1)
    monkeypatch.setattr(outbox_relay, "broker_answers", lambda: False)
    relay = OutboxRelay(poll_seconds=0.1)
    assert relay.run_once() >= 1.0
    assert relay.run_once() >= 2.0  # longer after each failure
    assert fanned_out == [] and OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 1


@pytest.mark.postgres  # a relay thread and the test writing one SQLite test database lock each other out
@pytest.mark.django_db(transaction=True)
@not_eager
def test_a_running_relay_picks_up_a_commit_within_its_poll_and_stops_on_request():
    relay = OutboxRelay(poll_seconds=0.05)
    thread = threading.Thread(target=_run_and_close, args=(relay,))
    thread.start()
    try:
        (pk,) = _publish(1)
        deadline = time.monotonic() + 5
        while OutboxEvent.objects.get(pk=pk).dispatched_at is None:
            assert time.monotonic() < deadline, "not handed on"
            time.sleep(0.02)
    finally:
        relay.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def _run_and_close(relay):
    try:
        relay.run()
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@not_eager
def test_two_relays_never_hand_one_event_on_twice(monkeypatch):
    ids = _publish(300)
    seen, lock = [], threading.Lock()

    def record(*, events):
        with lock:
            seen.extend(e.pk for e in events)
        time.sleep(0.002)  # hold the claim a moment, so the relays overlap

    monkeypatch.setattr("oms.webhooks.delivery.webhook_fan_out", record)
    relays = [OutboxRelay(batch_size=20) for _ in range(2)]
    counts = [0, 0]

    def drain(i):
        try:
            while True:
                handed = relays[i].drain()
                counts[i] += handed
                if not handed and not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists():
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(seen) == ids  # every event once
    assert sum(counts) == 300 and all(counts)  # both relays took a share


def test_eager_celery_hands_on_in_process_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        (pk,) = _publish(1)
        assert OutboxEvent.objects.get(pk=pk).dispatched_at is None  # never before commit
    assert OutboxEvent.objects.get(pk=pk).dispatched_at is not None
