"""``oms.bulk_sql.insert_rows`` (PostgreSQL) and ``events_publish_many`` on both paths."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from locations.models import Sku, StockLocation
from locations.tests.factories import StockLocationFactory
from oms import bulk_sql
from oms.events.models import OutboxEvent
from oms.events.outbox import _flush_pending, events_publish_many
from packages.models import Package, PackageItem, Status
from packages.tests.factories import BrandFactory

pytestmark = pytest.mark.django_db

SKIPPED = {"id", "created_at", "updated_at", "uuid", "status_changed_at", "placed_at"}


def _row(obj) -> dict:
    """The saved columns of ``obj`` (re-read), without ids and times of day."""
    fresh = type(obj).objects.get(pk=obj.pk)
    values = {f.attname: getattr(fresh, f.attname) for f in type(obj)._meta.concrete_fields}
    return {k: v for k, v in values.items() if k not in SKIPPED}


@pytest.mark.postgres
def test_insert_rows_writes_what_save_writes():
    """Columns left out get the defaults ``Model.save()`` gives them."""
    brand, location = BrandFactory(), StockLocationFactory()
    now = timezone.now()
    ship_by = dt.datetime(2017, 9, 19, 12, 45, tzinfo=dt.UTC)
    saved = Package.objects.create(number="N-1", order_number="N", brand=brand, location=location,
                                   ship_by=ship_by, external_ref="ref:1")
    [(pk,)] = bulk_sql.insert_rows(
        Package, {"number": ["N-2"], "order_number": ["N"], "brand": [brand.pk],
                  "location_id": [location.pk], "ship_by": [ship_by], "external_ref": ["ref:2"]},
        now=now, returning=("id",))
    inserted = Package.objects.get(pk=pk)
    assert _row(inserted) == {**_row(saved), "number": "N-2", "external_ref": "ref:2"}
    assert inserted.created_at == inserted.updated_at == now  # auto_now(_add): the given time
    assert now <= inserted.status_changed_at <= timezone.now()  # default=timezone.now, called once


@pytest.mark.postgres
def test_insert_rows_json_decimal_constants_and_database_defaults():
    now = timezone.now()
    keys = [uuid.uuid4() for _ in range(3)]
    returned = bulk_sql.insert_rows(
        OutboxEvent, {"uuid": keys, "aggregate_id": [3, 1, 2],
                      "payload": [{"a": [1, "é"]}, {"b": None}, {}]},
        constants={"type": "t.x", "aggregate_type": "test"}, now=now,
        returning=("id", "uuid", "xid"))
    assert [key for _, key, _ in returned] == keys  # in the order given
    rows = list(OutboxEvent.objects.order_by("id"))
    assert [(r.uuid, r.type, r.aggregate_id, r.payload) for r in rows] == [
        (keys[0], "t.x", 3, {"a": [1, "é"]}), (keys[1], "t.x", 1, {"b": None}), (keys[2], "t.x", 2, {})]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        xid = cursor.fetchone()[0]
    assert {r.xid for r in rows} == {xid} == {x for *_, x in returned}  # the column's db_default
    assert all(r.created_at == now and r.dispatched_at is None for r in rows)


TRICKY = ['a"b', "back\\slash", "NULL", "", "x,{y}", "é ação", "new\nline\ttab", " spaced ", None]


@pytest.mark.postgres
def test_insert_rows_sends_any_text_bool_date_and_json_unchanged():
    now = timezone.now()
    codes = [f"L{i}" for i in range(len(TRICKY))]
    flags = [True, False, True, False, True, False, True, False, True]
    bulk_sql.insert_rows(StockLocation, {"code": codes, "name": [t or "-" for t in TRICKY],
                                            "city": [t or "" for t in TRICKY], "is_active": flags},
                            now=now)
    assert list(StockLocation.objects.order_by("code").values_list("name", "city", "is_active")) == [
        (t or "-", t or "", f) for t, f in zip(TRICKY, flags, strict=True)]
    payloads = [{"text": t, "nested": [t, {"k": t}]} for t in TRICKY]
    bulk_sql.insert_rows(OutboxEvent, {"uuid": [uuid.uuid4() for _ in TRICKY], "payload": payloads,
                                          "aggregate_id": list(range(len(TRICKY)))},
                            constants={"type": "t", "aggregate_type": "t"}, now=now)
    assert list(OutboxEvent.objects.order_by("aggregate_id").values_list("payload", flat=True)) == payloads
    location, brand = StockLocation.objects.first(), BrandFactory()
    bulk_sql.insert_rows(Package, {"number": ["D-1", "D-2"], "order_number": ["D", "D"],
                                      "brand_id": [brand.pk] * 2, "location_id": [location.pk] * 2,
                                      "invoice_date": [dt.date(2017, 9, 19), None],
                                      "status": [Status.PENDING, Status.PRODUCT_OUT_OF_STOCK]}, now=now)
    assert list(Package.objects.order_by("number").values_list("invoice_date", "status")) == [
        (dt.date(2017, 9, 19), 100), (None, 920)]
    with pytest.raises(TypeError, match="array literal"):
        bulk_sql.insert_rows(Sku, {"code": [object()]}, now=now)


@pytest.mark.postgres
def test_insert_rows_refuses_what_an_insert_refuses():
    now = timezone.now()
    with pytest.raises(DataError), transaction.atomic():  # not cut to varchar(64)
        bulk_sql.insert_rows(Sku, {"code": ["x" * 65]}, now=now)
    with pytest.raises(ValueError, match="unique"):  # one uuid4() for every row would collide
        bulk_sql.insert_rows(OutboxEvent, {"aggregate_id": [1]}, now=now)
    with pytest.raises(ValueError, match="no field"):
        bulk_sql.insert_rows(Sku, {"nope": [1]}, now=now)
    with pytest.raises(ValueError, match="lengths"):
        bulk_sql.insert_rows(Sku, {"code": ["a", "b"], "name": ["a"]}, now=now)
    assert not Sku.objects.exists()


@pytest.mark.postgres
def test_insert_rows_ignore_conflicts_and_empty_input(django_assert_num_queries):
    now = timezone.now()
    Sku.objects.create(code="A", name="old")
    returned = bulk_sql.insert_rows(Sku, {"code": ["A", "B"], "name": ["new", "new"]}, now=now,
                                       returning=("code",), ignore_conflicts=True)
    assert returned == [("B",)]
    assert dict(Sku.objects.values_list("code", "name")) == {"A": "old", "B": "new"}
    with django_assert_num_queries(0):
        assert bulk_sql.insert_rows(Sku, {"code": []}, now=now, returning=("id",)) == []


@pytest.mark.postgres
def test_insert_rows_numeric_rounds_as_the_column_does():
    sku, location, brand = Sku.objects.create(code="S"), StockLocationFactory(), BrandFactory()
    package = Package.objects.create(number="P-1", order_number="P", brand=brand, location=location)
    bulk_sql.insert_rows(PackageItem, {"package_id": [package.pk], "sku_id": [sku.pk], "quantity": [1],
                                          "unit_price": [Decimal("1.005")], "freight_value": [None]},
                            now=timezone.now())
    item = PackageItem.objects.get()
    assert (item.unit_price, item.freight_value) == (Decimal("1.01"), None)


EVENTS = [("test.one", "test", 7, {"n": 1, "when": "2017-09-19T12:45:00+00:00"}),
          ("test.two", "package", 8, {"items": [{"sku": "A", "quantity": 2}]})]


def _published_rows(monkeypatch, *, fast: bool) -> tuple[list[OutboxEvent], list[tuple]]:
    """Publish ``EVENTS`` on one path in a rolled-back transaction; return what came back
    and the rows written."""
    monkeypatch.setattr(bulk_sql, "supported", lambda: fast)
    with transaction.atomic():
        events = events_publish_many(EVENTS)
        rows = list(OutboxEvent.objects.order_by("id").values_list(
            "id", "uuid", "xid", "type", "aggregate_type", "aggregate_id", "payload", "dispatched_at"))
        transaction.set_rollback(True)
    return events, rows


@pytest.mark.postgres
def test_events_publish_many_fast_path_writes_the_rows_of_bulk_create(monkeypatch):
    fast, fast_rows = _published_rows(monkeypatch, fast=True)
    portable, portable_rows = _published_rows(monkeypatch, fast=False)
    assert [row[3:] for row in fast_rows] == [row[3:] for row in portable_rows] == [
        (*event, None) for event in EVENTS]
    for events, rows in ((fast, fast_rows), (portable, portable_rows)):
        assert all(isinstance(e, OutboxEvent) and not e._state.adding for e in events)
        assert [(e.pk, e.uuid, e.xid, e.type, e.aggregate_type, e.aggregate_id, e.payload,
                 e.dispatched_at) for e in events] == rows


@pytest.mark.parametrize("fast", [True, False])
def test_events_publish_many_hands_ids_on_after_commit(fast, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(bulk_sql, "supported", lambda: fast and connection.vendor == "postgresql")
    monkeypatch.setattr("oms.events.outbox._pending.ids", [], raising=False)  # ids of rolled-back tests
    sent = []
    monkeypatch.setattr("oms.events.outbox.outbox_dispatch_many", lambda event_ids: sent.append(event_ids))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            ids = events_publish_many(EVENTS, instances=False)
            rows = events_publish_many(EVENTS[:1])
            assert sent == []  # nothing leaves before commit
    assert all(isinstance(pk, int) for pk in ids)
    assert list(OutboxEvent.objects.order_by("id").values_list("id", "type")) == [
        (ids[0], "test.one"), (ids[1], "test.two"), (rows[0].pk, "test.one")]
    assert sent == [[*ids, rows[0].pk]]  # one hand-off for the transaction, in order
    assert callbacks and all(cb is _flush_pending for cb in callbacks)
    assert events_publish_many([]) == []
