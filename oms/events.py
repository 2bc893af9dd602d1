"""Write events to the outbox inside the caller's transaction; hand them on after commit."""

from __future__ import annotations

import logging
import threading
import uuid

from django.db import connection, transaction
from django.utils import timezone

from oms import bulk_sql
from oms.models import OutboxEvent

logger = logging.getLogger(__name__)
_pending = threading.local()


def _flush_pending() -> None:
    """Hand every event id published in the committed transaction to Celery in one message."""
    ids = getattr(_pending, "ids", None)
    if not ids:
        return
    _pending.ids = []
    from oms.tasks import outbox_dispatch_batch_task

    try:
        outbox_dispatch_batch_task.delay(ids)
    except Exception as exc:  # broker down: the redispatch sweeper picks the rows up later
        logger.warning("%d outbox event(s) not enqueued (%s); the sweeper will retry", len(ids), exc)


def event_publish(*, type: str, aggregate_type: str, aggregate_id: int, payload: dict) -> OutboxEvent:
    """Record one event in the outbox and queue its hand-off for after commit.

    Must run inside the transaction of the change (services are ``atomic``): on rollback the
    row disappears and the on-commit hook never fires, so nothing leaves for a change that
    did not happen. The events of one transaction leave together, in one Celery message.
    An id whose savepoint was rolled back may ride along; the dispatcher finds no row and
    skips it.

    Args:
        type: dotted event type, e.g. ``"package.status.transitioned"``.
        aggregate_type / aggregate_id: the changed object (``"package"``, its pk).
        payload: JSON-safe dict.
    Returns the saved ``OutboxEvent``.
    """
    event = OutboxEvent.objects.create(
        type=type, aggregate_type=aggregate_type, aggregate_id=aggregate_id, payload=payload
    )
    if not getattr(_pending, "ids", None):
        _pending.ids = []
    _pending.ids.append(event.pk)
    transaction.on_commit(_flush_pending)
    return event


def events_publish_many(events: list[tuple[str, str, int, dict]], *,
                        instances: bool = True) -> list[OutboxEvent] | list[int]:
    """Record many events at once: ``[(type, aggregate_type, aggregate_id, payload), …]``.

    As ``event_publish`` (same transaction, hand-off after commit), in one statement: on
    PostgreSQL an ``INSERT … SELECT FROM unnest`` of plain values (``oms.bulk_sql``),
    elsewhere ``bulk_create``. Returns the saved ``OutboxEvent`` rows in the order given,
    or with ``instances=False`` only their ids (imports: no model instance per event).
    """
    if not events:
        return []
    if bulk_sql.supported():
        ids, rows = _insert_events(events, instances=instances)
    else:
        rows = OutboxEvent.objects.bulk_create(
            [OutboxEvent(type=t, aggregate_type=a, aggregate_id=i, payload=p) for t, a, i, p in events],
            batch_size=1000,
        )
        ids = [row.pk for row in rows]
    if not getattr(_pending, "ids", None):
        _pending.ids = []
    _pending.ids.extend(ids)
    transaction.on_commit(_flush_pending)
    return rows if instances else ids


def _insert_events(events: list[tuple[str, str, int, dict]], *,
                   instances: bool) -> tuple[list[int], list[OutboxEvent]]:
    """Insert ``events`` from plain values; return their ids and, if asked, the instances."""
    now = timezone.now()
    columns = bulk_sql.columns_of(("type", "aggregate_type", "aggregate_id", "payload"), events)
    if not instances:  # PostgreSQL draws the uuids
        returned = bulk_sql.insert_rows(OutboxEvent, columns, now=now, returning=("id",),
                                           expressions={"uuid": "gen_random_uuid()"})
        return [pk for (pk,) in returned], []
    uuids = [uuid.uuid4() for _ in events]
    returned = bulk_sql.insert_rows(OutboxEvent, {"uuid": uuids, **columns}, now=now,
                                       returning=("id", "uuid", "xid"))
    if [row[1] for row in returned] != uuids:  # never seen; match by the unique uuid then
        by_uuid = {row[1]: row for row in returned}
        returned = [by_uuid[key] for key in uuids]
    rows = [
        OutboxEvent(id=pk, uuid=key, type=t, aggregate_type=a, aggregate_id=i, payload=p,
                    created_at=now, xid=xid)
        for (pk, key, xid), (t, a, i, p) in zip(returned, events, strict=True)
    ]
    for row in rows:  # as bulk_create leaves them: saved rows
        row._state.adding, row._state.db = False, connection.alias
    return [row.pk for row in rows], rows


def _feed_horizon() -> int | None:
    """The oldest transaction id still running (PostgreSQL), or None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return cursor.fetchone()[0]


def event_feed(*, after: tuple[int, int] | None = None, limit: int = 100) -> list[OutboxEvent]:
    """Return up to ``limit`` committed events after the cursor ``after`` = ``(xid, id)``.

    Events are ordered by the id of the transaction that wrote them, then by id, and only
    events of transactions older than every transaction still running are returned. Ids are
    handed out at insert, not at commit, so paging by id alone could skip an event whose
    transaction commits after a later one; with this order and horizon, every event shows up
    exactly once, after all events returned before it. (On SQLite writers run one at a time,
    ``xid`` is 0 and the order is the id.) The cursor of the next page is the last event's
    ``(xid, id)``.
    """
    from django.db.models import Q

    events = OutboxEvent.objects.all()
    horizon = _feed_horizon()
    if horizon is not None:
        events = events.filter(xid__lt=horizon)
    if after is not None:
        xid, event_id = after
        events = events.filter(Q(xid__gt=xid) | Q(xid=xid, id__gt=event_id))
    return list(events.order_by("xid", "id")[:limit])
