"""Rescheduling many packages at once, as the automatic re-check does: ``package_act
("reschedule", …, skip_locked=True)`` as the system, ``package_stamp_shortages`` and
``package_recheck_out_of_stock`` (SQLite and PostgreSQL; the tests marked ``postgres`` need
real row locks)."""

import datetime as dt
import re
import threading

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import system_actor
from oms.actions.engine import Entry
from oms.actions.errors import ActionNotAllowed, InsufficientStock
from oms.events.models import OutboxEvent
from packages import rescheduling
from packages.creation import shortage_text
from packages.engine import package_act, package_run
from packages.events import package_event_payload
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.rescheduling import package_recheck_out_of_stock, package_stamp_shortages
from packages.tests.factories import BrandFactory

pytestmark = pytest.mark.django_db

RECHECK = system_actor("system:recheck")


def _waiting(location, lines, *, brand, waited_minutes=0, number=None, **fields):
    """A Product Out of Stock package with ``lines`` = ``[(sku, quantity), …]`` (in that item order)."""
    package = Package.objects.create(
        number=number or f"W-{Package.objects.count() + 1}", order_number="O", brand=brand,
        location=location, status=Status.PRODUCT_OUT_OF_STOCK,
        status_changed_at=timezone.now() - dt.timedelta(minutes=waited_minutes), **fields)
    for sku, quantity in lines:
        PackageItem.objects.create(package=package, sku=sku, quantity=quantity)
    return package


def _reschedule(package_ids):
    """What the re-check does with a batch: reschedule, skipping packages locked elsewhere."""
    return package_act("reschedule", [Entry(pk) for pk in package_ids], actor=RECHECK, skip_locked=True)


def _short(outcomes):
    """``{package_id: shortages}`` of the outcomes refused for want of stock."""
    return {outcome.key: outcome.error.extra["shortages"] for outcome in outcomes
            if isinstance(outcome.error, InsufficientStock)}


def _log_rows(package):
    return list(PackageTransition.objects.filter(package=package).order_by("id").values(
        "from_status", "to_status", "action", "actor", "actor_user_id", "reason", "payload"))


def _events(package):
    return list(OutboxEvent.objects.filter(aggregate_type="package", aggregate_id=package.pk)
                .values_list("type", "payload"))


def _mixed_world():
    brand = BrandFactory(recheck_interval_minutes=40)
    location, other = StockLocationFactory(), StockLocationFactory()
    scarce, plenty = SkuFactory(code="B-SCARCE"), SkuFactory(code="A-PLENTY")
    missing = SkuFactory(code="C-NONE")  # no stock row at the location
    world = {
        "brand": brand,
        "scarce_level": StockLevel.objects.create(location=location, sku=scarce, on_hand=3),
        "plenty_level": StockLevel.objects.create(location=location, sku=plenty, on_hand=10, reserved=1),
        "elsewhere": StockLevel.objects.create(location=other, sku=scarce, on_hand=5),
        # ids in the opposite order of waiting time: served by waiting time, not by id
        "young": _waiting(location, [(scarce, 1)], brand=brand, waited_minutes=5),
        "oldest": _waiting(location, [(scarce, 2), (plenty, 4)], brand=brand, waited_minutes=60),
        "no_row": _waiting(location, [(plenty, 1), (missing, 1)], brand=brand, waited_minutes=50),
        "middle": _waiting(location, [(scarce, 2)], brand=brand, waited_minutes=30),
        "at_other": _waiting(other, [(scarce, 5)], brand=brand, waited_minutes=1),
        "moved_on": _waiting(location, [(plenty, 1)], brand=brand, waited_minutes=90),
    }
    Package.objects.filter(pk=world["moved_on"].pk).update(status=Status.IN_PROGRESS)
    return world


def _assert_mixed_world_after(w, *, now, before):
    """oldest took 2 of the 3 scarce units, middle could not have 2 more, young took the last."""
    for level, reserved in ((w["scarce_level"], 3), (w["plenty_level"], 5), (w["elsewhere"], 5)):
        level.refresh_from_db()
        assert level.reserved == reserved
        assert level.on_hand >= level.reserved
    for package in (w["oldest"], w["young"], w["at_other"]):
        package.refresh_from_db()
        assert (package.status, package.version) == (Status.IN_PROGRESS, 2)
        assert package.status_changed_at >= before
        assert _log_rows(package) == [{
            "from_status": 920, "to_status": 200, "action": "reschedule", "actor": "system:recheck",
            "actor_user_id": None, "reason": "", "payload": {}}]
        ((kind, payload),) = _events(package)
        assert kind == "package.status.transitioned"
        assert payload == package_event_payload(package, action="reschedule", from_status=920, actor=RECHECK)
    for package, text in ((w["no_row"], "short: SKU C-NONE needs 1, has 0"),
                          (w["middle"], "short: SKU B-SCARCE needs 2, has 1")):
        package.refresh_from_db()
        assert (package.status, package.version) == (Status.PRODUCT_OUT_OF_STOCK, 1)
        assert package.stock_shortage == text
        assert package.stock_checked_at == now
        assert package.next_stock_check_at == now + dt.timedelta(minutes=40)
        assert _log_rows(package) == [] and _events(package) == []
    moved_on = w["moved_on"]
    moved_on.refresh_from_db()
    assert (moved_on.status, moved_on.version, moved_on.stock_checked_at) == (Status.IN_PROGRESS, 1, None)
    assert _log_rows(moved_on) == [] and _events(moved_on) == []


def test_mixed_batch_reserves_once_and_writes_one_log_row_and_event_each():
    """The engine serves the entries in the order given (the re-check gives them longest
    waiting first); a package short of stock gets its shortages, one no longer out of stock
    is refused, an unknown one is not found; the shortages are stamped afterwards."""
    w = _mixed_world()
    before = timezone.now()
    now = before - dt.timedelta(seconds=5)
    by_waiting = [w["oldest"], w["no_row"], w["middle"], w["young"], w["at_other"]]

    outcomes = _reschedule([w["moved_on"].pk] + [p.pk for p in by_waiting] + [999_999])
    stamped = package_stamp_shortages(shortages=_short(outcomes), checked_at=now,
                                      next_check_at=now + dt.timedelta(minutes=40))

    assert [outcome.key for outcome in outcomes if outcome.done] == [
        w["oldest"].pk, w["young"].pk, w["at_other"].pk]
    assert _short(outcomes) == {
        w["no_row"].pk: [{"sku": "C-NONE", "needed": 1, "available": 0}],
        w["middle"].pk: [{"sku": "B-SCARCE", "needed": 2, "available": 1}],
    }
    assert stamped == 2
    refused, *_, unknown = outcomes
    assert isinstance(refused.error, ActionNotAllowed) and refused.error.code == "transition_not_allowed"
    assert (unknown.key, unknown.obj, unknown.error) == (999_999, None, None)
    _assert_mixed_world_after(w, now=now, before=before)


def test_recheck_serves_the_longest_waiting_first():
    w = _mixed_world()
    before = timezone.now()
    now = before - dt.timedelta(seconds=5)

    result = package_recheck_out_of_stock(brand_id=w["brand"].pk, now=now, due_only=False)

    assert result.rescheduled == [w["oldest"].pk, w["young"].pk, w["at_other"].pk]
    assert (result.still_short, result.skipped) == (2, 0)
    _assert_mixed_world_after(w, now=now, before=before)


def test_writes_what_the_single_reschedule_writes(django_capture_on_commit_callbacks):
    """Twin packages, one rescheduled alone (``package_run``), one the re-check's way
    (``package_act`` with ``skip_locked``): the same row changes, log row and event payload
    (but for id, number, what each replaces and the clock)."""
    brand, location = BrandFactory(), StockLocationFactory()
    skus = [SkuFactory(code=code) for code in ("Z-LAST", "A-FIRST", "M-MIDDLE")]
    for sku in skus:
        StockLevel.objects.create(location=location, sku=sku, on_hand=10)
    ship_by = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    twins = []
    for name in "AB":
        original = Package.objects.create(number=f"ORIG-{name}", order_number="O", brand=brand,
                                          location=location, status=Status.CANCELED)
        twins.append(_waiting(location, [(skus[0], 2), (skus[1], 1), (skus[2], 3)], brand=brand,
                              number=f"TWIN-{name}", replaces=original, carrier="CARRIER", ship_by=ship_by,
                              placed_at=ship_by))
    with django_capture_on_commit_callbacks() as single_callbacks:
        package_run("reschedule", package_id=twins[0].pk, actor=RECHECK)
    with django_capture_on_commit_callbacks() as many_callbacks:
        (outcome,) = _reschedule([twins[1].pk])
    assert outcome.done
    assert len(single_callbacks) == len(many_callbacks) == 1  # the hand-off waits for the commit

    def comparable(package, name):
        row = Package.objects.filter(pk=package.pk).values().get()
        for key in ("id", "number", "replaces_id", "created_at", "updated_at", "status_changed_at"):
            row.pop(key)
        ((kind, payload),) = _events(package)
        assert (payload["package"]["id"], payload["package"]["number"]) == (package.pk, f"TWIN-{name}")
        assert payload["package"]["replaces"] == f"ORIG-{name}"
        payload["package"].update(id=None, number=None, replaces=None)
        return row, _log_rows(package), kind, payload

    assert comparable(twins[0], "A") == comparable(twins[1], "B")
    items = _events(twins[1])[0][1]["package"]["items"]
    assert items == [{"sku": "Z-LAST", "quantity": 2}, {"sku": "A-FIRST", "quantity": 1},
                     {"sku": "M-MIDDLE", "quantity": 3}]
    assert [StockLevel.objects.get(location=location, sku=sku).reserved for sku in skus] == [4, 2, 6]


def test_brand_with_reschedule_switched_off_is_left_alone():
    brand, location, sku = BrandFactory(disabled_actions=["reschedule"]), StockLocationFactory(), SkuFactory()
    level = StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    package = _waiting(location, [(sku, 1)], brand=brand)
    before = Package.objects.filter(pk=package.pk).values().get()
    (outcome,) = _reschedule([package.pk])
    assert isinstance(outcome.error, ActionNotAllowed) and outcome.error.code == "action_disabled"
    result = package_recheck_out_of_stock(brand_id=brand.pk, due_only=False)
    assert (result.rescheduled, result.still_short, result.skipped) == ([], 0, 0)
    assert Package.objects.filter(pk=package.pk).values().get() == before
    level.refresh_from_db()
    assert level.reserved == 0
    assert _log_rows(package) == [] and _events(package) == []


def test_nothing_to_do_writes_nothing():
    recorder = _Recorder()
    with connection.execute_wrapper(recorder):
        outcomes = _reschedule([123, 456])
        assert package_stamp_shortages(shortages=_short(outcomes), checked_at=timezone.now(),
                                       next_check_at=timezone.now()) == 0
    assert [(outcome.obj, outcome.error) for outcome in outcomes] == [(None, None)] * 2
    writes = ("UPDATE", "INSERT", "WITH")
    assert [sql for sql in recorder.sql if sql.lstrip().upper().startswith(writes)] == []


# Statements per package of a batch that reserves one SKU line: the engine's savepoint and
# ``stock_reserve``'s own inside it, the lock of its stock rows, then the reservation and two
# releases, or, short of stock, two rollbacks and two releases.
def test_query_count_does_not_grow_with_the_batch(monkeypatch):
    """The stock rows of a batch are locked once and written once (the action's stock
    ledger), the package rows, log rows and events set-based: the statements do not grow
    with the packages, but for the stamp of the short ones, which SQLite writes in chunks
    (made small here: 30 rows / 7 per statement = 5 statements)."""
    monkeypatch.setattr(rescheduling, "SQLITE_ROWS_PER_STATEMENT", 7)
    brand, location = BrandFactory(), StockLocationFactory()
    counts = []
    for n in (3, 30):
        skus = [SkuFactory() for _ in range(n)]
        for sku in skus:
            StockLevel.objects.create(location=location, sku=sku, on_hand=1)
        fit = [_waiting(location, [(sku, 1)], brand=brand) for sku in skus]
        short = [_waiting(location, [(sku, 2)], brand=brand) for sku in skus]
        now = timezone.now()
        with connection.execute_wrapper(lambda execute, *args, n=n: counts.append(n) or execute(*args)):
            outcomes = _reschedule([p.pk for p in fit + short])
            package_stamp_shortages(shortages=_short(outcomes), checked_at=now, next_check_at=now)
        assert sorted(outcome.key for outcome in outcomes if outcome.done) == sorted(p.pk for p in fit)
        assert set(_short(outcomes)) == {p.pk for p in short}
        assert Package.objects.filter(pk__in=[p.pk for p in short], stock_shortage__endswith="needs 2, has 0",
                                      stock_checked_at__isnull=False).count() == n
    small, large = counts.count(3), counts.count(30)
    stamps = 0 if connection.vendor == "postgresql" else 5 - 1  # the chunked stamp
    assert large - small == stamps, (small, large)


def test_stamp_shortages_touches_only_packages_still_out_of_stock():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory(code="S")
    waiting = _waiting(location, [(sku, 1)], brand=brand)
    gone = _waiting(location, [(sku, 1)], brand=brand)
    Package.objects.filter(pk=gone.pk).update(status=Status.CANCELED)
    checked = timezone.now().replace(microsecond=0)
    shortage = [{"sku": "S", "needed": 1, "available": 0}]
    stamped = package_stamp_shortages(shortages={waiting.pk: shortage, gone.pk: shortage, 999_999: shortage},
                                      checked_at=checked, next_check_at=checked + dt.timedelta(minutes=7))
    assert stamped == 1
    waiting.refresh_from_db()
    assert (waiting.stock_checked_at, waiting.next_stock_check_at, waiting.stock_shortage) == (
        checked, checked + dt.timedelta(minutes=7), "short: SKU S needs 1, has 0")
    gone.refresh_from_db()
    assert (gone.stock_checked_at, gone.stock_shortage) == (None, "")
    assert package_stamp_shortages(shortages={}, checked_at=checked, next_check_at=checked) == 0


def test_recheck_counts_every_package_of_the_batch():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=2)
    fits = [_waiting(location, [(sku, 1)], brand=brand, waited_minutes=10 - i) for i in range(2)]
    late = _waiting(location, [(sku, 1)], brand=brand, waited_minutes=1)  # short once the others took theirs
    too_big = _waiting(location, [(sku, 3)], brand=brand, waited_minutes=20)  # short from the start
    result = package_recheck_out_of_stock(brand_id=brand.pk, due_only=False)
    assert result.rescheduled == [p.pk for p in fits]
    assert (result.still_short, result.skipped) == (2, 0)
    for package in (late, too_big):
        package.refresh_from_db()
        assert package.status == Status.PRODUCT_OUT_OF_STOCK and package.stock_checked_at is not None


def test_recheck_pages_through_packages_that_waited_equally_long_by_id():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=3)
    packages = [_waiting(location, [(sku, 1)], brand=brand) for _ in range(5)]
    Package.objects.filter(pk__in=[p.pk for p in packages]).update(status_changed_at=timezone.now())
    result = package_recheck_out_of_stock(brand_id=brand.pk, due_only=False, batch_size=2)
    assert result.rescheduled == [p.pk for p in packages[:3]]
    assert (result.still_short, result.skipped) == (2, 0)


def test_recheck_shortage_text_is_the_single_reschedule_text():
    """The re-check's shortage text (computed in SQL on PostgreSQL) is ``shortage_text`` of
    what a reschedule reports: SKUs in code-point order, free units never below
    zero, a SKU without a stock row has 0, cut at 500 characters."""
    brand, location = BrandFactory(), StockLocationFactory()
    codes = ["b-lower", "B-UPPER", "_under", "\u00c4-umlaut", "a10", "a9", "Z"]
    codes += [f"SKU-{n:03d}" for n in range(25)]
    lines = []
    for n, code in enumerate(codes):
        sku = SkuFactory(code=code)
        if n % 3:  # every third SKU has no stock row at all
            StockLevel.objects.create(location=location, sku=sku, on_hand=n % 4, reserved=n % 4 // 2)
        lines.append((sku, 4 + n % 3))
    package = _waiting(location, lines, brand=brand)
    with pytest.raises(InsufficientStock) as single:
        package_run("reschedule", package_id=package.pk, actor=RECHECK)
    expected = shortage_text(single.value.extra["shortages"])
    assert len(expected) == 500 and expected.startswith("short: SKU B-UPPER needs")
    assert package_recheck_out_of_stock(brand_id=brand.pk, due_only=False).still_short == 1
    package.refresh_from_db()
    assert package.stock_shortage == expected


# --- real row locks (PostgreSQL) ------------------------------------------------------------

def _hold_lock(package_id):
    """Lock ``package_id`` in another connection until the returned event is set."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Package.objects.select_for_update().get(pk=package_id)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(timeout=10)
    return release, thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_package_locked_by_another_transaction_is_skipped_and_left_untouched():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    level = StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    oldest = _waiting(location, [(sku, 1)], brand=brand, waited_minutes=30)
    busy = _waiting(location, [(sku, 1)], brand=brand, waited_minutes=20)
    young = _waiting(location, [(sku, 1)], brand=brand, waited_minutes=10)
    before = Package.objects.filter(pk=busy.pk).values().get()
    release, thread = _hold_lock(busy.pk)
    try:
        outcomes = _reschedule([oldest.pk, busy.pk, young.pk])
    finally:
        release.set()
        thread.join()
    assert [outcome.key for outcome in outcomes if outcome.done] == [oldest.pk, young.pk]
    assert (outcomes[1].obj, outcomes[1].error) == (None, None)  # skipped, not waited for
    assert Package.objects.filter(pk=busy.pk).values().get() == before
    assert _log_rows(busy) == [] and _events(busy) == []
    level.refresh_from_db()
    assert level.reserved == 2
    assert PackageTransition.objects.filter(action="reschedule").count() == 2
    assert OutboxEvent.objects.filter(type="package.status.transitioned").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_recheck_skips_a_locked_package_and_reschedules_it_next_time():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    free = _waiting(location, [(sku, 1)], brand=brand, waited_minutes=30)
    busy = _waiting(location, [(sku, 1)], brand=brand, waited_minutes=20)
    release, thread = _hold_lock(busy.pk)
    try:
        first = package_recheck_out_of_stock(brand_id=brand.pk, due_only=False)
    finally:
        release.set()
        thread.join()
    assert (first.rescheduled, first.still_short, first.skipped) == ([free.pk], 0, 1)
    busy.refresh_from_db()
    assert busy.status == Status.PRODUCT_OUT_OF_STOCK
    second = package_recheck_out_of_stock(brand_id=brand.pk, due_only=False)
    assert (second.rescheduled, second.still_short, second.skipped) == ([busy.pk], 0, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_locks_exactly_the_stock_rows_it_needs_in_primary_key_order():
    brand, location, other = BrandFactory(), StockLocationFactory(), StockLocationFactory()
    skus = [SkuFactory() for _ in range(3)]
    needed = [StockLevel.objects.create(location=location, sku=sku, on_hand=1) for sku in reversed(skus)]
    unrelated = [StockLevel.objects.create(location=other, sku=skus[0], on_hand=1),  # same SKU, other place
                 StockLevel.objects.create(location=location, sku=SkuFactory(), on_hand=1)]  # same place
    package = _waiting(location, [(sku, 1) for sku in skus], brand=brand)
    recorder = _Recorder()

    def try_lock(level_id):
        try:
            with transaction.atomic():
                StockLevel.objects.select_for_update(nowait=True).get(pk=level_id)
            return "free"
        except DatabaseError:
            return "locked"
        finally:
            connection.close()

    with transaction.atomic():  # keep the engine's locks until the checks are done
        with connection.execute_wrapper(recorder):
            (outcome,) = _reschedule([package.pk])
        assert outcome.done
        seen = {}
        thread = threading.Thread(target=lambda: seen.update(
            {level.pk: try_lock(level.pk) for level in needed + unrelated}))
        thread.start()
        thread.join(timeout=30)
    assert seen == {**{level.pk: "locked" for level in needed}, **{level.pk: "free" for level in unrelated}}
    (lock_sql,) = [sql for sql in recorder.sql if "locations_stocklevel" in sql and "FOR UPDATE" in sql]
    assert lock_sql.startswith('SELECT "locations_stocklevel"."id"')  # so ORDER BY 1 is the primary key too
    assert re.search(r'ORDER BY (1|"locations_stocklevel"\."id") ASC FOR UPDATE OF "locations_stocklevel"$',
                     lock_sql.rstrip())


class _Recorder:
    """``connection.execute_wrapper`` that keeps the SQL it sees."""

    def __init__(self):
        self.sql = []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(sql)
        return execute(sql, params, many, context)
