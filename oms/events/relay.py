"""The outbox relay: hands committed outbox events on, outside every request.

``python manage.py outbox_relay`` runs ``OutboxRelay.run``: claim the oldest undispatched
rows (``SELECT … FOR UPDATE SKIP LOCKED ORDER BY id LIMIT n``), mark them dispatched and
create their webhook deliveries in the same transaction, commit, and repeat while rows
remain, so a backlog drains batch after batch at full speed, oldest first; then wait
``OUTBOX_RELAY_POLL_SECONDS`` and look again. Any number of relays may run: SKIP LOCKED
gives each row to one of them (on SQLite, which has no row locks, run one).

The relay polls instead of waiting for ``LISTEN/NOTIFY``: a ``NOTIFY`` takes a database-wide
lock from its commit until the end of it, so notifying writers commit one at a time (on this
project's machine, 8 clients inserting one row each: 1,860 commits/s without ``NOTIFY``,
480–1,100 with it). An idle poll is one index scan of the (empty) partial index of
undispatched rows.
"""

from __future__ import annotations

import logging
import threading

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from oms.events.models import OutboxEvent

logger = logging.getLogger(__name__)

# Events for the system itself, handed by the relay to the Celery task named here (the
# payload is its keyword arguments); never sent to webhook subscribers nor in the feed.
INTERNAL_EVENT_TASKS = {
    "stock.level.raised": "packages.tasks.package_recheck_for_stock_task",
}

# The public events' consumer, named as the internal events' tasks are: webhooks build on the
# outbox (their deliveries point at its rows), so the outbox does not import them.
PUBLIC_EVENTS_FAN_OUT = "oms.webhooks.delivery.webhook_fan_out"


class HandOffFailed(Exception):
    """The broker did not take a hand-off (down, or hung past its socket timeout)."""


def outbox_dispatch_many(*, event_ids: list[int] | None = None, limit: int = 1000) -> int:
    """Hand on up to ``limit`` undispatched outbox events, oldest first (only ``event_ids``
    when given); return how many this call claimed (0 when none is left or all are taken).

    One transaction claims the rows with ``FOR UPDATE SKIP LOCKED`` (two relays never hand
    one event on twice), sets ``dispatched_at`` and creates the webhook deliveries of the
    public events (``PUBLIC_EVENTS_FAN_OUT``, which queues them after commit). After
    commit, each internal event (``INTERNAL_EVENT_TASKS``) is queued to its
    Celery task. Raises ``HandOffFailed`` when the broker refuses one: that event and the
    internal events after it are marked undispatched again, for the next round.
    """
    with transaction.atomic():
        claimed = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
            dispatched_at__isnull=True)
        if event_ids is not None:
            claimed = claimed.filter(pk__in=event_ids)
        events = list(claimed.order_by("pk")[:limit])
        if not events:
            return 0
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
        public = [e for e in events if e.type not in INTERNAL_EVENT_TASKS]
        if public:
            import_string(PUBLIC_EVENTS_FAN_OUT)(events=public)
    _queue_internal([e for e in events if e.type in INTERNAL_EVENT_TASKS])
    return len(events)


def _queue_internal(events: list[OutboxEvent]) -> None:
    for index, event in enumerate(events):
        try:
            import_string(INTERNAL_EVENT_TASKS[event.type]).delay(**event.payload)
        except Exception as exc:
            left = [e.pk for e in events[index:]]
            OutboxEvent.objects.filter(pk__in=left).update(dispatched_at=None)
            raise HandOffFailed(f"{len(left)} internal event(s) not queued: {exc}") from exc


def broker_answers() -> bool:
    """True if the Celery broker answers within its socket timeout (always with eager
    Celery). A Redis broker is sent a PING on a new connection."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True
    try:
        with current_app.connection_for_write() as conn:
            conn.connect()
            conn.channel().close()  # opening a Redis channel sends PING
    except Exception as exc:
        logger.warning("broker does not answer: %s", exc)
        return False
    return True


class OutboxRelay:
    """Drains the outbox in batches of ``batch_size``; ``run`` loops until ``stop``."""

    def __init__(self, *, batch_size: int | None = None, poll_seconds: float | None = None,
                 max_pause_seconds: float = 30.0):
        self.batch_size = batch_size or settings.OUTBOX_RELAY_BATCH
        self.poll_seconds = settings.OUTBOX_RELAY_POLL_SECONDS if poll_seconds is None else poll_seconds
        self.max_pause_seconds = max_pause_seconds
        self._stopping = threading.Event()
        self._failures = 0

    def stop(self) -> None:
        """Finish the batch in hand, then return from ``run`` (SIGTERM, SIGINT)."""
        self._stopping.set()

    def drain(self) -> int:
        """Hand on batch after batch, oldest first, until a batch comes back short (the
        outbox is empty, or what is left is another relay's). Returns how many events."""
        total = 0
        while not self._stopping.is_set():
            handed = outbox_dispatch_many(limit=self.batch_size)
            total += handed
            if handed < self.batch_size:
                break
        return total

    def run_once(self) -> float:
        """One round: if events wait and the broker answers, drain. Returns the seconds to
        pause before the next round: the poll interval, longer after failures."""
        try:
            if OutboxEvent.objects.filter(dispatched_at__isnull=True).exists():
                if not broker_answers():
                    raise HandOffFailed("broker does not answer")
                handed = self.drain()
                if handed >= self.batch_size:
                    logger.info("outbox relay handed on %d events", handed)
        except (HandOffFailed, DatabaseError) as exc:
            self._failures += 1
            pause = min(self.max_pause_seconds, max(self.poll_seconds, 0.5) * 2 ** self._failures)
            logger.warning("outbox hand-off paused %.1f s: %s", pause, exc)
            return pause
        self._failures = 0
        return self.poll_seconds

    def run(self) -> None:
        """Loop ``run_once`` until ``stop``."""
        while not self._stopping.is_set():
            close_old_connections()  # a relay outlives database restarts
            self._stopping.wait(self.run_once())


def outbox_dispatch(*, event_id: int) -> bool:
    """Hand one outbox event on (see ``oms.events.relay.outbox_dispatch_many``); True if this
    call did it."""
    return bool(outbox_dispatch_many(event_ids=[event_id]))
