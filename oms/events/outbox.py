"""Write events to the outbox inside the caller's transaction.

Nothing is handed on from here: the outbox relay (``oms.events.relay``, ``python manage.py
outbox_relay``) claims committed rows itself, so a request never waits on the broker. Only
with eager Celery (tests; development without a relay) are a transaction's events handed on
in-process right after its commit.
"""

from __future__ import annotations

import threading
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from oms import bulk_sql
from oms.events.models import OutboxEvent
from oms.events.relay import INTERNAL_EVENT_TASKS, outbox_dispatch_many

_pending = threading.local()


def _flush_pending() -> None:
    """After commit (eager Celery only): hand on every event of the committed transaction."""
    ids = getattr(_pending, "ids", None)
    if not ids:
        return
    _pending.ids = []
    for start in range(0, len(ids), 1000):
        outbox_dispatch_many(event_ids=ids[start:start + 1000])


def event_publish(*, type: str, aggregate_type: str, aggregate_id: int, payload: dict) -> OutboxEvent:
    """Record one event in the outbox; the relay hands it on once it is committed.

    Must run inside the transaction of the change (services are ``atomic``): on rollback the
    row disappears, so nothing leaves for a change that did not happen.

    Args:
        type: dotted event type, e.g. ``"package.status.transitioned"``.
        aggregate_type / aggregate_id: the changed object (``"package"``, its pk).
        payload: JSON-safe dict.
    Returns the saved ``OutboxEvent``.
    """
    event = OutboxEvent.objects.create(
        type=type, aggregate_type=aggregate_type, aggregate_id=aggregate_id, payload=payload
    )
    events_hand_on_after_commit([event.pk])
    return event


def events_publish_many(events: list[tuple[str, str, int, dict]], *,
                        instances: bool = True) -> list[OutboxEvent] | list[int]:
    """Record many events at once: ``[(type, aggregate_type, aggregate_id, payload), …]``.

    As ``event_publish`` (same transaction, handed on once committed), in one statement: on
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
    events_hand_on_after_commit(ids)
    return rows if instances else ids


def events_hand_on_after_commit(ids: list[int]) -> None:
    """With eager Celery, hand the outbox events ``ids`` (written in the current transaction)
    on in-process after its commit, with the transaction's other events; otherwise nothing
    (the relay finds them). An id whose savepoint was rolled back may ride along; the
    dispatcher finds no row and skips it."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return
    if not getattr(_pending, "ids", None):
        _pending.ids = []
    _pending.ids.extend(ids)
    transaction.on_commit(_flush_pending)


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


# The oldest transaction of *this database* that holds a transaction id and is still
# running, widened to 64 bits like ``pg_current_xact_id()``; with none, the next id to be
# handed out. Transactions of other databases on the same server cannot write our outbox,
# so they do not hold the feed back (``pg_current_snapshot()``'s xmin would count them).
# A transaction that gets its id after this read gets one at or above the next id read here.
# pg_stat_activity shows a session's transaction id to its own role and to members of
# pg_read_all_stats: every process that writes events must connect as the same role (or the
# reading role needs pg_read_all_stats).
_HORIZON_SQL = """
    WITH now AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid),
    running AS (
        SELECT ((n.next_xid >> 32) << 32) + a.backend_xid::text::bigint AS xid, n.next_xid
        FROM pg_stat_activity a, now n
        WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL
    )
    SELECT least((SELECT next_xid FROM now),
                 (SELECT min(CASE WHEN xid > next_xid THEN xid - 4294967296 ELSE xid END) FROM running))
"""


def _feed_horizon() -> int | None:
    """The feed's horizon (see ``_HORIZON_SQL``) on PostgreSQL, None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(_HORIZON_SQL)
        return cursor.fetchone()[0]


def event_feed(*, after: tuple[int, int] | None = None, limit: int = 100) -> list[OutboxEvent]:
    """Return up to ``limit`` committed events after the cursor ``after`` = ``(xid, id)``.

    Events are ordered by the id of the transaction that wrote them, then by id, and only
    events of transactions older than every transaction still running are returned. Ids are
    handed out at insert, not at commit, so paging by id alone could skip an event whose
    transaction commits after a later one; with this order and horizon, every event shows up
    exactly once, after all events returned before it. (On SQLite writers run one at a time,
    ``xid`` is 0 and the order is the id.) The cursor of the next page is the last event's
    ``(xid, id)``. Internal events (``INTERNAL_EVENT_TASKS``) are left out.
    """
    events = OutboxEvent.objects.exclude(type__in=list(INTERNAL_EVENT_TASKS))
    horizon = _feed_horizon()
    if horizon is not None:
        events = events.filter(xid__lt=horizon)
    if after is not None:
        xid, event_id = after
        events = events.filter(Q(xid__gt=xid) | Q(xid=xid, id__gt=event_id))
    return list(events.order_by("xid", "id")[:limit])
