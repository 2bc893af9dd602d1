"""The Olist import writes all of a file set or nothing, and never creates a package short:
a broken, cut or missing row of an order refuses the whole order until a corrected file."""

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from demo import olist_import as importer
from demo.olist_import import OlistImportError, olist_import
from locations.models import Sku, StockLevel, StockLocation
from oms.events.models import OutboxEvent
from packages.models import Package, PackageItem

pytestmark = pytest.mark.django_db

HEADER = ('"order_id","order_item_id","product_id","seller_id","shipping_limit_date",'
          '"price","freight_value"\n')
FULL_ITEMS = HEADER + (
    '"order-0001",1,"p1","s1",2017-09-19 09:45:35,58.90,13.29\n'
    '"order-0001",2,"p1","s1",2017-09-19 09:45:35,58.90,13.29\n'
    '"order-0001",3,"p1","s1",2017-09-19 09:45:35,58.90,13.29\n'
    '"order-0001",4,"p2","s2",2017-09-19 09:45:35,10.00,1.00\n'
    '"order-0002",1,"p3","s1",2017-09-20 10:00:00,5.00,1.00\n'
    '"order-0003",1,"p2","s2",2017-09-21 10:00:00,7.50,2.00\n'
    '"order-0003",2,"p1","s2",2017-09-21 10:00:00,7.50,2.00\n'
    '"order-0003",3,"p1","s2",2017-09-21 10:00:00,7.50,2.00\n'
)


def _write_catalogue(directory: Path) -> None:
    (directory / "sellers.csv").write_text(
        "seller_id,seller_zip_code_prefix,seller_city,seller_state\n"
        "s1,13023,Campinas,SP\ns2,4557,Sao Paulo,SP\n")
    (directory / "products.csv").write_text(
        "product_id,product_category_name,product_weight_g\np1,perfumaria,100\np2,,200\np3,,300\n")


def _units_by_package(items: str) -> dict[str, Counter]:
    """``{external_ref: Counter({sku: units})}`` read from an order items file with ``csv``."""
    units: dict[str, Counter] = {}
    for row in csv.DictReader(io.StringIO(items)):
        units.setdefault(f"olist:{row['order_id']}:{row['seller_id']}", Counter())[row["product_id"]] += 1
    return units


def _units_in_database() -> dict[str, Counter]:
    units: dict[str, Counter] = {}
    for ref, sku, quantity in PackageItem.objects.values_list(
            "package__external_ref", "sku__code", "quantity"):
        units.setdefault(ref, Counter())[sku] += quantity
    return units


def _written() -> tuple[int, ...]:
    return (StockLocation.objects.count(), Sku.objects.count(), StockLevel.objects.count(),
            Package.objects.count(), OutboxEvent.objects.count())


LAST_LINE = FULL_ITEMS.splitlines()[-1]


@pytest.mark.parametrize("cut", [1, 5, 11, 12, 13, 18, 22, 30, 45, 49, 52])
def test_a_file_cut_mid_line_creates_no_short_package_and_the_full_file_completes_it(tmp_path, cut):
    _write_catalogue(tmp_path)
    (tmp_path / "order_items.csv").write_text(FULL_ITEMS[:len(FULL_ITEMS) - len(LAST_LINE) - 1 + cut])
    expected = _units_by_package(FULL_ITEMS)

    first = olist_import(directory=tmp_path)

    created = _units_in_database()
    assert {ref: created[ref] for ref in created} == {ref: expected[ref] for ref in created}
    if LAST_LINE[:cut].count(",") < 6:  # the cut line lacks columns: its order waits
        assert "olist:order-0003:s2" not in created
        assert any(row.reason.startswith("order order-0003 refused") and "cut off" in row.reason
                   for row in first.skipped)
    if cut >= 12:  # its order id is whole: the orders before it are imported
        assert {"olist:order-0001:s1", "olist:order-0001:s2", "olist:order-0002:s1"} <= set(created)

    (tmp_path / "order_items.csv").write_text(FULL_ITEMS)
    second = olist_import(directory=tmp_path)

    assert _units_in_database() == expected
    assert second.packages_present == len(created)
    assert second.packages_created == len(expected) - len(created)


def test_a_short_row_refuses_every_package_of_its_order_reported_by_order(tmp_path):
    _write_catalogue(tmp_path)
    lines = FULL_ITEMS.splitlines(keepends=True)
    lines[2] = '"order-0001",2,"p1","s1",2017-09-19\n'  # short: the seller is known, the rest lost
    (tmp_path / "order_items.csv").write_text("".join(lines))

    report = olist_import(directory=tmp_path)

    refs = set(Package.objects.values_list("external_ref", flat=True))
    assert refs == {"olist:order-0002:s1", "olist:order-0003:s2"}
    reasons = [row.reason for row in report.skipped if "order-0001" in row.reason]
    assert any(reason.startswith("order order-0001 refused") and "order-0001-1" in reason
               and "order-0001-2" in reason and "line 3" in reason for reason in reasons), reasons
    assert (report.packages_failed, report.orders_refused) == (2, 1)


def test_a_missing_order_item_refuses_its_order(tmp_path):
    _write_catalogue(tmp_path)
    lines = FULL_ITEMS.splitlines(keepends=True)
    del lines[2]  # order-0001 item 2 lost: items 1, 3, 4 remain
    (tmp_path / "order_items.csv").write_text("".join(lines))

    report = olist_import(directory=tmp_path)

    assert not Package.objects.filter(order_number="order-0001").exists()
    assert any("order_item_id 2 missing" in row.reason for row in report.skipped)
    (tmp_path / "order_items.csv").write_text(FULL_ITEMS)
    olist_import(directory=tmp_path)
    assert _units_in_database() == _units_by_package(FULL_ITEMS)


def test_reimport_creates_what_was_refused_and_leaves_what_exists(tmp_path):
    _write_catalogue(tmp_path)
    good = '"order-0002",1,"p3","s1",2017-09-20 10:00:00,5.00'
    (tmp_path / "order_items.csv").write_text(FULL_ITEMS.replace(good, good.replace("5.00", "abc")))
    olist_import(directory=tmp_path)
    before = {row["number"]: row for row in Package.objects.values("number", "pk", "version", "status")}
    assert "order-0002-1" not in before

    (tmp_path / "order_items.csv").write_text(FULL_ITEMS)
    report = olist_import(directory=tmp_path)

    after = {row["number"]: row for row in Package.objects.values("number", "pk", "version", "status")}
    assert {number: after[number] for number in before} == before
    assert set(after) - set(before) == {"order-0002-1"}
    assert (report.packages_created, report.packages_present) == (1, len(before))


@pytest.mark.parametrize("content", [
    b"",
    b"\n\n",
    b"order,product,seller\no1,p1,s1\n",  # wrong header
    bytes(range(256)) * 8,  # garbage
    b"\xef\xbb\xbf\x00\x00\x00",
])
def test_a_bad_items_file_writes_nothing(tmp_path, content):
    _write_catalogue(tmp_path)
    (tmp_path / "order_items.csv").write_bytes(content)

    with pytest.raises(OlistImportError):
        olist_import(directory=tmp_path)
    with pytest.raises(CommandError):
        call_command("import_olist", str(tmp_path), stdout=io.StringIO())

    assert _written() == (0, 0, 0, 0, 0)


def test_a_bad_products_file_writes_no_location(tmp_path):
    _write_catalogue(tmp_path)
    (tmp_path / "products.csv").write_text("name,weight\n")
    (tmp_path / "order_items.csv").write_text(FULL_ITEMS)

    with pytest.raises(OlistImportError, match="products.csv"):
        olist_import(directory=tmp_path)

    assert _written() == (0, 0, 0, 0, 0)


def test_a_failure_while_writing_packages_rolls_back_the_whole_import(tmp_path, monkeypatch):
    _write_catalogue(tmp_path)
    (tmp_path / "order_items.csv").write_text(FULL_ITEMS)
    monkeypatch.setattr(importer, "PACKAGE_CHUNK_SIZE", 1)
    calls = []
    real = importer.package_create_many

    def fail_on_the_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(importer, "package_create_many", fail_on_the_second_chunk)

    with pytest.raises(RuntimeError):
        olist_import(directory=tmp_path)

    assert _written() == (0, 0, 0, 0, 0)


def test_an_order_whose_only_row_is_broken_is_reported_refused(tmp_path):
    """Regression: an order with no usable row at all was not counted in ``orders_refused``
    (its row is listed as skipped)."""
    _write_catalogue(tmp_path)
    lines = FULL_ITEMS.splitlines(keepends=True)
    lines[5] = '"order-0002",1,"p3","s1",2017-09-20 10:00:00,abc,1.00\n'  # its one row, bad price
    (tmp_path / "order_items.csv").write_text("".join(lines))

    report = olist_import(directory=tmp_path)

    assert not Package.objects.filter(external_ref__contains="order-0002").exists()
    assert report.orders_refused == 1
    assert [row.line for row in report.skipped if "abc" in row.reason] == [6]
