"""``oms.events.HandOffRelay``: outbox hand-offs committed close together leave in one
Celery message, after commit, from a background thread; nothing is lost on exit."""

import threading

import pytest
from django.db import transaction
from django.test import override_settings

from oms import events
from oms.events import HandOffRelay, event_publish, flush_relay

pytestmark = pytest.mark.django_db


class _Calls(list):
    def __init__(self):
        super().__init__()
        self.arrived = threading.Event()


@pytest.fixture
def sent(monkeypatch):
    """The id lists given to ``outbox_dispatch_batch_task.delay``; ``sent.arrived`` is set
    on each call."""
    calls = _Calls()

    def delay(ids):
        calls.append(list(ids))
        calls.arrived.set()

    monkeypatch.setattr("oms.tasks.outbox_dispatch_batch_task.delay", delay)
    monkeypatch.setattr("oms.events._pending.ids", [], raising=False)
    monkeypatch.setattr(events, "_relay_instance", None)
    return calls


def _publish(n: int) -> int:
    return event_publish(type="test.relay", aggregate_type="package", aggregate_id=n, payload={}).pk


@override_settings(OUTBOX_HANDOFF_LINGER_MS=200, CELERY_TASK_ALWAYS_EAGER=False)
def test_commits_within_the_linger_leave_in_one_message(sent, django_capture_on_commit_callbacks):
    ids = []
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            ids.append(_publish(n))
            assert sent == []  # never before commit
    assert sent == []  # still lingering
    assert sent.arrived.wait(5)
    assert sent == [ids]


@override_settings(OUTBOX_HANDOFF_LINGER_MS=60_000, CELERY_TASK_ALWAYS_EAGER=False)
def test_flush_sends_what_the_relay_holds_at_once(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        pk = _publish(1)
    assert sent == []
    flush_relay()  # at exit, or when a Celery worker process shuts down
    assert sent == [[pk]]


@override_settings(OUTBOX_HANDOFF_LINGER_MS=0, CELERY_TASK_ALWAYS_EAGER=False)
def test_no_linger_sends_from_the_committing_thread(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        pk = _publish(1)
    assert sent == [[pk]]
    assert events._relay_instance is None


def test_a_rolled_back_transaction_hands_nothing_on(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            _publish(1)
            raise RuntimeError
    flush_relay()
    assert sent == []


def test_a_message_carries_at_most_the_maximum(sent, monkeypatch):
    monkeypatch.setattr(events, "HANDOFF_MAX_IDS", 2)
    events._send([1, 2, 3, 4, 5])
    assert sent == [[1, 2], [3, 4], [5]]


def test_a_broker_error_is_logged_and_left_to_the_sweeper(monkeypatch, caplog):
    def down(ids):
        raise ConnectionError("broker down")

    monkeypatch.setattr("oms.tasks.outbox_dispatch_batch_task.delay", down)
    relay = HandOffRelay(0.01)
    relay.add([7, 8])
    relay.flush()
    assert "2 outbox event(s) not enqueued (broker down)" in caplog.text


def test_a_forked_process_gets_its_own_relay(sent, monkeypatch):
    first = events._relay(0.05)
    assert events._relay(0.05) is first
    monkeypatch.setattr(first, "pid", -1)  # as seen from a child after fork: its thread is gone
    second = events._relay(0.05)
    assert second is not first
    assert events._relay(0.05) is second


def test_a_relay_whose_thread_died_is_replaced_and_its_ids_sent(sent, monkeypatch):
    first = events._relay(60.0)
    first.add([41, 42])
    monkeypatch.setattr(first._thread, "is_alive", lambda: False)  # as after a crash
    second = events._relay(60.0)
    assert second is not first and second._thread.is_alive()
    assert sent == [[41, 42]]  # what the dead relay held left at once
