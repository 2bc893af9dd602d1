"""Automatic rescheduling of Product Out of Stock packages (state-machine.md, "Automatic
rescheduling").

A run takes one brand's out-of-stock packages (all that are due, or only those waiting on
given SKUs at a location when stock just rose there), oldest waiting first
(``status_changed_at``, then id), in bounded batches:

* one query finds, for the whole batch, every item the location cannot cover; packages
  with a shortage get their next check time and the reason in one bulk update;
* each remaining package is rescheduled in its own short transaction, its row taken with
  ``SELECT … FOR UPDATE SKIP LOCKED`` (a package an operator is acting on is skipped, never
  waited for) and its state checked again under the lock; ``package_reschedule`` runs as
  the system actor and reserves the stock, or the package gets the shortage it met.

Runs for the same brand are serialised by a PostgreSQL advisory lock, so two runs started
together neither reschedule a package twice nor let a younger package take scarce stock
before an older one; the second run finds nothing left that is due.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from locations.models import StockLevel
from oms.actors import system_actor
from oms.exceptions import InsufficientStock
from packages.models import Brand, Package, PackageItem, Status
from packages.services import package_reschedule, shortage_text

BATCH_SIZE = 500
ADVISORY_LOCK_NAMESPACE = 920_001  # first key of pg_advisory_lock(int, int); the brand id is the second


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


def _mark_short(shortages: dict[int, list[dict]], *, interval: dt.timedelta,
                now: dt.datetime) -> int:
    """Stamp checked/next-check/reason on still-short packages (still in 920) in one update."""
    if not shortages:
        return 0
    packages = [
        Package(pk=pk, stock_checked_at=now, next_stock_check_at=now + interval,
                stock_shortage=shortage_text(found))
        for pk, found in shortages.items()
    ]
    # bulk_update cannot filter on status; rows that left 920 meanwhile keep their values
    # harmlessly (the fields only mean something in 920), so one statement is enough.
    Package.objects.bulk_update(packages, ["stock_checked_at", "next_stock_check_at", "stock_shortage"])
    return len(packages)


def _reschedule_one(package_id: int, *, interval: dt.timedelta, now: dt.datetime) -> str:
    """Reschedule one package in its own transaction; return rescheduled/short/skipped."""
    with transaction.atomic():
        locked = (
            Package.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=package_id, status=Status.PRODUCT_OUT_OF_STOCK)
            .values_list("pk", flat=True).first()
        )
        if locked is None:
            return "skipped"
        try:
            with transaction.atomic():
                package_reschedule(package_id=package_id, actor=system_actor("system:recheck"))
        except InsufficientStock as exc:  # an older package took the last units
            _mark_short({package_id: exc.extra.get("shortages", [])}, interval=interval, now=now)
            return "short"
    return "rescheduled"


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
    Returns a ``RecheckResult``. Touches no package outside Product Out of Stock, and none
    at all when the brand switched ``reschedule`` off. Must not run inside a transaction
    (each package commits on its own).
    """
    now = now or timezone.now()
    brand = Brand.objects.get(pk=brand_id)
    interval = dt.timedelta(minutes=brand.recheck_interval_minutes)
    result = RecheckResult()
    if not brand.is_action_enabled("reschedule"):
        return result  # the brand switched rescheduling off: not for operators, not for us
    queryset = Package.objects.filter(brand_id=brand_id, status=Status.PRODUCT_OUT_OF_STOCK)
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
                page = page.filter(Q(status_changed_at__gt=cursor[0])
                                   | Q(status_changed_at=cursor[0], pk__gt=cursor[1]))
            batch = list(page.order_by("status_changed_at", "pk")
                         .values_list("pk", "status_changed_at")[:batch_size])
            if not batch:
                break
            cursor = (batch[-1][1], batch[-1][0])
            ids = [pk for pk, _ in batch]
            shortages = _batch_shortages(ids)
            result.still_short += _mark_short(shortages, interval=interval, now=now)
            for pk in ids:
                if pk in shortages:
                    continue
                outcome = _reschedule_one(pk, interval=interval, now=now)
                if outcome == "rescheduled":
                    result.rescheduled.append(pk)
                elif outcome == "short":
                    result.still_short += 1
                else:
                    result.skipped += 1
    return result


def package_recheck_after_stock_rise(*, location_id: int, sku_ids: list[int]) -> RecheckResult:
    """Re-check, across brands, the out-of-stock packages at ``location_id`` that wait on
    any of ``sku_ids`` (stock rose there), without waiting for their next check time."""
    brand_ids = (
        Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK, location_id=location_id,
                               items__sku_id__in=sku_ids)
        .values_list("brand_id", flat=True).distinct()
    )
    result = RecheckResult()
    for brand_id in sorted(set(brand_ids)):
        result.merge(package_recheck_out_of_stock(
            brand_id=brand_id, due_only=False, location_id=location_id, sku_ids=sku_ids))
    return result
