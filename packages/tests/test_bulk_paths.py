"""The PostgreSQL fast path of ``package_create_many`` (plain-value inserts, ``oms.bulk_sql``)
writes exactly the rows of the portable ``bulk_create`` path (the Olist import's:
``demo/tests/test_import_olist_bulk_paths.py``)."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection, transaction

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms import bulk_sql
from oms.actions.actors import system_actor
from oms.actions.errors import InvalidInput
from packages.creation import CreatedPackage, ItemInput, PackageSpec, package_create_many
from packages.models import Package, Status
from packages.tests.factories import BrandFactory

pytestmark = pytest.mark.django_db


def _fetch(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _strip(value):
    """A JSON payload without the values that differ between two runs (ids, times)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("id", "updated_at")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def snapshot() -> dict:
    """Every row an import or ``package_create_many`` writes, keyed by number and code
    instead of ids, timestamps reduced to what they mean (``created_at``/``updated_at`` are
    left out: ``bulk_create`` draws the two a few microseconds apart)."""
    numbers = dict(_fetch("SELECT id, number FROM packages_package"))
    codes = dict(_fetch("SELECT id, code FROM locations_stocklocation"))
    transfers = dict(_fetch("SELECT id, number FROM transfers_transfer"))
    keys = {"package": numbers, "stock_location": codes, "transfer": transfers}
    return {
        "locations": _fetch("SELECT code, name, city, region, postcode, kind, is_active, can_package, "
                            "is_pickup_point FROM locations_stocklocation ORDER BY code"),
        "skus": _fetch("SELECT code, name, category, weight_g, length_cm, height_cm, width_cm "
                       "FROM locations_sku ORDER BY code"),
        "stock": _fetch("SELECT l.code, k.code, s.on_hand, s.reserved, s.damaged FROM locations_stocklevel s "
                        "JOIN locations_stocklocation l ON l.id = s.location_id "
                        "JOIN locations_sku k ON k.id = s.sku_id ORDER BY 1, 2"),
        "packages": _fetch(
            "SELECT p.number, p.order_number, b.slug, l.code, p.delivery_type, p.status, p.version, "
            "p.ship_by, p.external_ref, p.stock_shortage, p.stock_checked_at IS NULL, "
            "p.next_stock_check_at - p.stock_checked_at, p.placed_at = p.status_changed_at, "
            "p.carrier, p.tracking_number, p.label_printed_at, p.invoice_number, p.invoice_date, "
            "p.invoice_url, p.shipped_at, p.delivered_at, p.delivery_attempts, p.denial_reason_id, "
            "p.cancellation_reason, p.replaces_id "
            "FROM packages_package p JOIN packages_brand b ON b.id = p.brand_id "
            "JOIN locations_stocklocation l ON l.id = p.location_id ORDER BY p.number"),
        "creation_order": [number for _, number in sorted(numbers.items())],
        "items": _fetch("SELECT p.number, k.code, i.quantity, i.unit_price, i.freight_value "
                        "FROM packages_packageitem i JOIN packages_package p ON p.id = i.package_id "
                        "JOIN locations_sku k ON k.id = i.sku_id ORDER BY p.number, i.id"),
        "log": _fetch("SELECT p.number, t.from_status, t.to_status, t.action, t.actor, t.actor_user_id, "
                      "t.reason, t.payload FROM packages_packagetransition t "
                      "JOIN packages_package p ON p.id = t.package_id ORDER BY p.number, t.id"),
        "transfers": _fetch("SELECT p.number, s.code, d.code, t.status FROM transfers_transfer t "
                            "JOIN packages_package p ON p.id = t.package_id "
                            "JOIN locations_stocklocation s ON s.id = t.source_id "
                            "JOIN locations_stocklocation d ON d.id = t.destination_id "
                            "ORDER BY p.number, t.id"),
        "events": [(type_, aggregate_type, keys.get(aggregate_type, {}).get(key, key),
                    _strip(json.loads(payload)), dispatched)
                   for type_, aggregate_type, key, payload, dispatched in _fetch(
                       "SELECT type, aggregate_type, aggregate_id, payload, dispatched_at IS NULL "
                       "FROM oms_outboxevent ORDER BY id")],
    }


def on_both_paths(monkeypatch, run) -> tuple:
    """Run ``run()`` on the fast path, then on the portable path, each in a transaction
    rolled back afterwards; return ``((result, snapshot), (result, snapshot))``."""
    outcomes = []
    for fast in (True, False):
        monkeypatch.setattr(bulk_sql, "supported", lambda fast=fast: fast)
        with transaction.atomic():
            result = run()
            outcomes.append((result, snapshot()))
            transaction.set_rollback(True)
    return tuple(outcomes)


@pytest.mark.postgres
def test_package_create_many_fast_path_writes_the_rows_of_the_portable_path(monkeypatch):
    brand = BrandFactory(recheck_interval_minutes=45)
    home, other, empty = StockLocationFactory(), StockLocationFactory(), StockLocationFactory()
    sku, scarce, elsewhere = SkuFactory(code="S-OK"), SkuFactory(code="S-SCARCE"), SkuFactory(code="S-FAR")
    StockLevel.objects.create(location=home, sku=sku, on_hand=10)
    StockLevel.objects.create(location=home, sku=scarce, on_hand=1)
    StockLevel.objects.create(location=other, sku=elsewhere, on_hand=3)
    ship_by = dt.datetime(2017, 9, 19, 12, 45, tzinfo=dt.UTC)
    Package.objects.create(number="OLD-1", order_number="OLD", brand=brand, location=home,
                           external_ref="x:old")
    specs = [
        PackageSpec(order_number="A", brand=brand, location=home, number="A-1", ship_by=ship_by,
                    external_ref="x:A", items=[
                        ItemInput(sku=sku, quantity=2, unit_price=Decimal("58.90"),
                                  freight_value=Decimal("13.29")),
                        ItemInput(sku=scarce, quantity=1)]),
        PackageSpec(order_number="B", brand=brand, location=home, number="B-1",  # scarce unit taken
                    items=[ItemInput(sku=scarce, quantity=1)], delivery_type="click_and_collect"),
        PackageSpec(order_number="C", brand=brand, location=home, number="A-1",  # duplicate number
                    items=[ItemInput(sku=sku, quantity=1)]),
        PackageSpec(order_number="D", brand=brand, location=empty, number="D-1",  # a transfer can help
                    items=[ItemInput(sku=elsewhere, quantity=2)]),
        PackageSpec(order_number="E", brand=brand, location=home, number="E-1",
                    items=[ItemInput(sku=sku, quantity=8)]),
        PackageSpec(order_number="OLD", brand=brand, location=home, number="OLD-1",  # exists
                    items=[ItemInput(sku=sku, quantity=1)]),
        PackageSpec(order_number="H", brand=brand, location=home, number="H-1", external_ref="x:old",
                    items=[ItemInput(sku=sku, quantity=1)]),
    ]

    def run():
        return package_create_many(specs=specs, actor=system_actor("import:test"), instances=False)

    (fast, fast_rows), (portable, portable_rows) = on_both_paths(monkeypatch, run)

    assert fast_rows == portable_rows
    assert [type(r) for r in fast] == [CreatedPackage, CreatedPackage, InvalidInput, CreatedPackage,
                                       CreatedPackage, InvalidInput, InvalidInput]
    assert [r.extra["field"] for r in fast if isinstance(r, InvalidInput)] == [
        "number", "number", "external_ref"]
    assert [(r.number, r.status) for r in fast if not isinstance(r, InvalidInput)] == [
        (r.number, r.status) for r in portable if not isinstance(r, InvalidInput)] == [
        ("A-1", Status.PENDING), ("B-1", Status.PRODUCT_OUT_OF_STOCK),
        ("D-1", Status.PENDING_TRANSFER), ("E-1", Status.PENDING)]
    assert [number for number, *_ in fast_rows["packages"]] == ["A-1", "B-1", "D-1", "E-1", "OLD-1"]
    assert fast_rows["transfers"] and len(fast_rows["events"]) >= 4


@pytest.mark.postgres
def test_package_create_many_fast_path_returns_saved_packages(monkeypatch):
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=1)
    brand = BrandFactory()
    specs = [PackageSpec(order_number=o, brand=brand, location=location, number=f"{o}-1",
                         items=[ItemInput(sku=sku, quantity=1)]) for o in ("F", "G")]
    monkeypatch.setattr(bulk_sql, "supported", lambda: True)

    created = package_create_many(specs=specs, actor=system_actor())

    for package in created:
        assert isinstance(package, Package) and not package._state.adding
        fresh = Package.objects.get(pk=package.pk)
        assert {f.attname: getattr(package, f.attname) for f in Package._meta.concrete_fields} == {
            f.attname: getattr(fresh, f.attname) for f in Package._meta.concrete_fields}
    assert [p.status for p in created] == [Status.PENDING, Status.PRODUCT_OUT_OF_STOCK]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_package_create_many_share_scarce_stock_exactly(monkeypatch):
    """Four intakes of six packages each (two units of the location's SKU), alternating two
    locations in opposite orders, ten units at each: the stock rows are locked in
    primary-key order, so no deadlock, and exactly five packages per location are Pending,
    the other seven Product Out of Stock (no other location has their SKU)."""
    from oms.testing import run_concurrently

    monkeypatch.setattr(bulk_sql, "supported", lambda: True)
    brand = BrandFactory()
    first, second = StockLocationFactory(), StockLocationFactory()
    skus = {first.pk: SkuFactory(), second.pk: SkuFactory()}
    for location in (first, second):
        StockLevel.objects.create(location=location, sku=skus[location.pk], on_hand=10)

    def intake(i):
        locations = (first, second) if i % 2 else (second, first)
        return package_create_many(specs=[
            PackageSpec(order_number=f"C{i}", brand=brand, location=locations[n % 2], number=f"C{i}-{n}",
                        items=[ItemInput(sku=skus[locations[n % 2].pk], quantity=2)])
            for n in range(6)], actor=system_actor("import:test"), instances=False)

    results = run_concurrently(4, intake)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert list(StockLevel.objects.values_list("reserved", flat=True)) == [10, 10]
    for location in (first, second):
        statuses = list(Package.objects.filter(location=location).values_list("status", flat=True))
        assert sorted(statuses) == [Status.PENDING] * 5 + [Status.PRODUCT_OUT_OF_STOCK] * 7
