"""Automatic rescheduling of Product Out of Stock packages (state-machine.md, "Automatic
rescheduling").

A run takes one brand's out-of-stock packages that are not blocked (all that are due, or
only those waiting on given SKUs at a location when stock just rose there), oldest waiting
first (``status_changed_at``, then id), in bounded batches (a package blocked meanwhile is
refused by the engine under the lock and counts as skipped):

* one statement finds, for the whole batch, every item the location cannot cover and
  gives the packages with a shortage their next check time and the reason (on SQLite a
  query and ``package_stamp_shortages``);
* the remaining packages are rescheduled together in one short transaction by the package
  engine (``package_act("reschedule", …, skip_locked=True)``, as the system actor): their
  rows are taken with ``SELECT … FOR UPDATE SKIP LOCKED`` (a package an operator is acting
  on is skipped, never waited for) and their state checked again under the lock; they take
  the stock and a slot at their location, longest waiting first, or get the shortage (or
  the full location) they met.

Runs for the same brand are serialised by a PostgreSQL advisory lock, so two runs started
together neither reschedule a package twice nor let a younger package take scarce stock
before an older one; the second run finds nothing left that is due.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from locations.models import Sku, StockLevel
from locations.services import LocationFull
from oms.actions.actors import system_actor
from oms.actions.engine import Entry
from oms.actions.errors import InsufficientStock
from oms.observability.jobs import job_run_record
from packages.creation import shortage_text
from packages.engine import package_act
from packages.models import Brand, Package, PackageItem, Status

# Packages read, stamped and rescheduled per batch; one batch is one transaction holding up
# to this many package row locks for well under a second (docs/benchmarks.md, P4).
BATCH_SIZE = 2000
ADVISORY_LOCK_NAMESPACE = 920_001  # first key of pg_advisory_lock(int, int); the brand id is the second
# Run records (oms JobRun, key: the brand slug) by what started the run: the beat's due
# re-check, or a rise of stock.
RECHECK_JOBS = {"due": "package_recheck_due", "stock": "package_recheck_stock"}


@dataclass
class RecheckResult:
    """Counts of one run: ``rescheduled`` package ids in the order they were rescheduled,
    ``still_short`` and ``skipped`` (locked by someone else or no longer out of stock)."""

    rescheduled: list[int] = field(default_factory=list)
    still_short: int = 0
    skipped: int = 0

    def merge(self, other: RecheckResult) -> None:
        self.rescheduled += other.rescheduled
        self.still_short += other.still_short
        self.skipped += other.skipped


@contextmanager
def _brand_lock(brand_id: int):
    """Hold a session-level advisory lock for the brand (no-op on SQLite, whose writers
    already run one at a time)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, brand_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, brand_id])


def _batch_shortages(package_ids: list[int]) -> dict[int, list[dict]]:
    """Return ``{package_id: [shortage, …]}`` for the packages with an item their location
    cannot cover now (one query)."""
    available = StockLevel.objects.filter(
        location_id=OuterRef("package__location_id"), sku_id=OuterRef("sku_id")
    ).annotate(free=F("on_hand") - F("reserved")).values("free")[:1]
    rows = (
        PackageItem.objects.filter(package_id__in=package_ids)
        .annotate(available=Coalesce(Subquery(available), Value(0)))
        .filter(available__lt=F("quantity"))
        .order_by("package_id", "sku__code")
        .values_list("package_id", "sku__code", "quantity", "available")
    )
    result: dict[int, list[dict]] = defaultdict(list)
    for package_id, code, quantity, free in rows:
        result[package_id].append({"sku": code, "needed": quantity, "available": max(free, 0)})
    return result


# PostgreSQL: the shortage of every package of the batch computed in SQL and stamped on
# those still in 920 (rows locked in primary-key order first), in one statement. The text
# is ``packages.creation.shortage_text`` of the shortages sorted by SKU code ("C" collation:
# code-point order, as Python sorts); test_reschedule_many checks the two agree.
_MARK_SHORT_SQL = """
    WITH short AS (
        SELECT i.package_id,
               left('short: ' || string_agg(
                   format('SKU %%s needs %%s, has %%s', k.code, i.quantity,
                          greatest(coalesce(s.on_hand - s.reserved, 0), 0)),
                   '; ' ORDER BY k.code COLLATE "C"), 500) AS text
        FROM {package} p
        JOIN {item} i ON i.package_id = p.id
        JOIN {sku} k ON k.id = i.sku_id
        LEFT JOIN {level} s ON s.location_id = p.location_id AND s.sku_id = i.sku_id
        WHERE p.id = ANY(%(ids)s) AND i.package_id = ANY(%(ids)s)  -- both: index scans on both
          AND coalesce(s.on_hand - s.reserved, 0) < i.quantity
        GROUP BY i.package_id
    ), locked AS (
        SELECT p.id, short.text FROM {package} p JOIN short ON short.package_id = p.id
        WHERE p.status = %(status)s ORDER BY p.id FOR UPDATE OF p
    )
    UPDATE {package} AS t
    SET stock_checked_at = %(now)s, next_stock_check_at = %(next)s, stock_shortage = locked.text
    FROM locked WHERE t.id = locked.id
    RETURNING t.id
"""


def _values_sql(rows: Sequence[tuple], names: Sequence[str]) -> tuple[str, list]:
    """``(SELECT column1 AS a, … FROM (VALUES (%s, …), …))`` and its flat parameters (SQLite)."""
    aliases = ", ".join(f"column{i} AS {name}" for i, name in enumerate(names, start=1))
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    return (f"(SELECT {aliases} FROM (VALUES {', '.join([row] * len(rows))}) AS x)",
            [value for values in rows for value in values])


SQLITE_ROWS_PER_STATEMENT = 500  # keeps a VALUES list far below SQLite's bound-parameter limit


def package_stamp_shortages(*, shortages: Mapping[int, Sequence[dict]], checked_at: dt.datetime,
                            next_check_at: dt.datetime, reasons: Mapping[int, str] | None = None) -> int:
    """Record a stock check on packages that are still short, in one statement.

    Sets ``stock_checked_at``, ``next_stock_check_at`` and ``stock_shortage`` (the
    ``shortage_text`` of each package's shortage dicts ``{"sku", "needed", "available"}``)
    on the packages of ``shortages`` (``{package_id: [shortage, …]}``; ``reasons`` gives the
    text itself instead, ``{package_id: text}``, e.g. a full location) that are still in
    Product Out of Stock (the fields mean nothing elsewhere; state-machine.md, "Automatic
    rescheduling"); the others are left alone. No transition, log row or event: the state
    does not change. On PostgreSQL the rows are locked in primary-key order first (waiting
    for a row another transaction holds, as any UPDATE does); SQLite, whose writers run one
    at a time, takes ``UPDATE … FROM (VALUES …)`` in chunks (needs SQLite >= 3.33).

    Runs in the caller's transaction if there is one. Returns the number of packages stamped.
    """
    reasons = reasons or {}
    if not shortages and not reasons:
        return 0
    ids = sorted(set(shortages) | set(reasons))
    texts = [reasons[pk][:500] if pk in reasons else shortage_text(shortages[pk]) for pk in ids]
    table = connection.ops.quote_name(Package._meta.db_table)
    status = int(Status.PRODUCT_OUT_OF_STOCK)
    checked, next_check = (connection.ops.adapt_datetimefield_value(value)
                           for value in (checked_at, next_check_at))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"""
                WITH locked AS (
                    SELECT id FROM {table} WHERE id = ANY(%s) AND status = %s ORDER BY id FOR UPDATE
                )
                UPDATE {table} AS t
                SET stock_checked_at = %s, next_stock_check_at = %s, stock_shortage = v.text
                FROM locked JOIN unnest(%s::bigint[], %s::text[]) AS v(id, text) ON v.id = locked.id
                WHERE t.id = locked.id
            """, [ids, status, checked, next_check, ids, texts])
            return cursor.rowcount
        stamped = 0
        rows = list(zip(ids, texts, strict=True))
        for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            values, params = _values_sql(rows[start:start + SQLITE_ROWS_PER_STATEMENT], ("id", "text"))
            cursor.execute(f"""
                UPDATE {table} AS t
                SET stock_checked_at = %s, next_stock_check_at = %s, stock_shortage = v.text
                FROM {values} AS v WHERE t.id = v.id AND t.status = %s
            """, [checked, next_check, *params, status])
            stamped += cursor.rowcount
        return stamped


def _mark_short(package_ids: list[int], *, interval: dt.timedelta, now: dt.datetime) -> tuple[set[int], int]:
    """Find the packages of the batch whose location cannot cover some item now and stamp
    checked/next-check/reason on those still in 920, in one statement on PostgreSQL (one
    query and one stamp elsewhere). Return the ids found short and how many were stamped."""
    if connection.vendor != "postgresql":
        shortages = _batch_shortages(package_ids)
        stamped = package_stamp_shortages(shortages=shortages, checked_at=now, next_check_at=now + interval)
        return set(shortages), stamped
    quote = connection.ops.quote_name
    sql = _MARK_SHORT_SQL.format(**{name: quote(model._meta.db_table) for name, model in (
        ("package", Package), ("item", PackageItem), ("sku", Sku), ("level", StockLevel))})
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": list(package_ids), "status": int(Status.PRODUCT_OUT_OF_STOCK),
                             "now": now, "next": now + interval})
        short = {row[0] for row in cursor.fetchall()}
    return short, len(short)


def package_recheck_out_of_stock(*, brand_id: int, now: dt.datetime | None = None,
                                 due_only: bool = True, location_id: int | None = None,
                                 sku_ids: list[int] | None = None,
                                 batch_size: int = BATCH_SIZE) -> RecheckResult:
    """Re-check one brand's Product Out of Stock packages and reschedule those whose stock
    is back, oldest waiting first.

    Args:
        brand_id: the brand (sales channel) whose packages to check.
        now: the run's clock (UTC); defaults to ``timezone.now()``.
        due_only: only packages whose ``next_stock_check_at`` has passed (the beat run);
            False for the run after stock rose (``location_id``/``sku_ids`` then narrow it).
        batch_size: packages read per batch.
    Returns a ``RecheckResult``. Touches no package outside Product Out of Stock, no blocked
    package, and none at all when the brand switched ``reschedule`` off. Must not run
    inside a transaction (each batch commits on its own). A completed run is counted in the
    brand's run record (``RECHECK_JOBS``: runs, packages rescheduled, last run), read by
    ``/metrics``.
    """
    now = now or timezone.now()
    brand = Brand.objects.get(pk=brand_id)
    interval = dt.timedelta(minutes=brand.recheck_interval_minutes)
    result = RecheckResult()
    job = RECHECK_JOBS["due" if due_only else "stock"]
    if not brand.is_action_enabled("reschedule"):
        job_run_record(job=job, key=brand.slug)
        return result  # the brand switched rescheduling off: not for operators, not for us
    queryset = Package.objects.filter(brand_id=brand_id, status=Status.PRODUCT_OUT_OF_STOCK,
                                      blocked_at__isnull=True)
    if due_only:
        queryset = queryset.filter(Q(next_stock_check_at__lte=now) | Q(next_stock_check_at__isnull=True))
    if location_id is not None:
        queryset = queryset.filter(location_id=location_id)
    if sku_ids:
        queryset = queryset.filter(items__sku_id__in=sku_ids).distinct()
    with _brand_lock(brand_id):
        cursor: tuple | None = None
        while True:
            page = queryset
            if cursor is not None:
                # after (status_changed_at, pk) = cursor, spelled so that the index on (status,
                # status_changed_at) starts at the cursor rather than filtering every row before it
                page = (page.filter(status_changed_at__gte=cursor[0])
                        .exclude(status_changed_at=cursor[0], pk__lte=cursor[1]))
            batch = list(page.order_by("status_changed_at", "pk")
                         .values_list("pk", "status_changed_at")[:batch_size])
            if not batch:
                break
            cursor = (batch[-1][1], batch[-1][0])
            ids = [pk for pk, _ in batch]
            short, stamped = _mark_short(ids, interval=interval, now=now)
            result.still_short += stamped
            result.skipped += len(short) - stamped  # left Product Out of Stock meanwhile
            rest = [pk for pk in ids if pk not in short]
            if not rest:
                continue
            outcomes = package_act("reschedule", [Entry(pk) for pk in rest],
                                   actor=system_actor("system:recheck"), skip_locked=True)
            short, full = {}, {}
            for outcome in outcomes:
                if outcome.done:
                    result.rescheduled.append(outcome.key)
                elif isinstance(outcome.error, InsufficientStock):
                    short[outcome.key] = outcome.error.extra.get("shortages", [])
                elif isinstance(outcome.error, LocationFull):
                    full[outcome.key] = outcome.error.detail
                else:  # locked by someone else, or no longer Product Out of Stock
                    result.skipped += 1
            result.still_short += package_stamp_shortages(
                shortages=short, reasons=full, checked_at=now, next_check_at=now + interval)
    job_run_record(job=job, key=brand.slug, items=len(result.rescheduled))
    return result


def package_recheck_after_stock_rise(*, location_id: int, sku_ids: list[int]) -> RecheckResult:
    """Re-check, across brands, the out-of-stock packages at ``location_id`` that wait on
    any of ``sku_ids`` (stock rose there), without waiting for their next check time."""
    brand_ids = (
        Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK, location_id=location_id,
                               blocked_at__isnull=True, items__sku_id__in=sku_ids)
        .values_list("brand_id", flat=True).distinct()
    )
    result = RecheckResult()
    for brand_id in sorted(set(brand_ids)):
        result.merge(package_recheck_out_of_stock(
            brand_id=brand_id, due_only=False, location_id=location_id, sku_ids=sku_ids))
    return result
