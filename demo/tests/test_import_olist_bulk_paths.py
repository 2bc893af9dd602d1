"""The PostgreSQL fast path of the Olist import (plain-value inserts, ``oms.bulk_sql``) writes
exactly the rows of the portable ``bulk_create`` path."""

import re
from pathlib import Path

import pytest

from demo.olist_import import olist_import
from packages.tests.test_bulk_paths import on_both_paths

pytestmark = pytest.mark.django_db

ITEMS_HEADER = ('"order_id","order_item_id","product_id","seller_id","shipping_limit_date",'
                '"price","freight_value"\n')


def _write_dirty_files(directory: Path) -> None:
    (directory / "sellers.csv").write_bytes(
        b"seller_id,seller_zip_code_prefix,seler_city,seller_state\n"
        b"s1,13023,Campinas,SP\n"
        b'"s2",4557,Sa\xc3\xac\xc6\x92o Paulo,SP\n'
        b" s3 ,12345,S\xe3o Carlos,sp\n")
    (directory / "products.csv").write_text(
        "product_id,Category Name,product_weight_g,product_length_cm,product_height_cm,product_width_cm\n"
        "p1,beleza_saude,154,18,9,15\n\"p2\",perfumery,,abc,5,20\np3,#N/A,100,10,10,10\n")
    (directory / "order_items.csv").write_text(ITEMS_HEADER + (
        '"o1",1,"p1","s1",2017-09-19 09:45:35,58.90,13.29\n'
        "o1,2,p1,s1,2017-09-19 09:45:35,58.90,13.29\n"
        'o1,3,p2, "s2" ,2017-09-19 09:45:35,10.00,1.00\n'
        "o2,1,,s1,2017-09-20 10:00:00,5.00,1.00\n"
        "o2,2,p3,s1,2017-09-20 10:00:00,5.00,1.00\n"
        "o3,1,p3,s1,not-a-date,5.00,1.00\n"
        "o7,1,p3,s3,2017-09-22 10:00:00,7.50,2.00\n"
        "o8,1,p1,s3,2017-09-18 10:00:00,7.50,2.00\n"))


def _import_twice(directory) -> list[list[str]]:
    reports = [olist_import(directory=directory), olist_import(directory=directory)]
    return [[line for line in report.lines(max_skipped=10**6) if "elapsed" not in line]
            for report in reports]


@pytest.mark.postgres
def test_olist_import_fast_path_writes_the_rows_of_the_portable_path(monkeypatch, tmp_path):
    _write_dirty_files(tmp_path)

    (fast, fast_rows), (portable, portable_rows) = on_both_paths(monkeypatch, lambda: _import_twice(tmp_path))

    assert fast == portable  # same report, first run and re-run
    assert "packages: 0 created" in fast[1][4]
    assert fast_rows == portable_rows
    assert len(fast_rows["packages"]) == 4 and len(fast_rows["locations"]) == 3


@pytest.mark.postgres
@pytest.mark.slow
def test_olist_import_of_the_sample_is_the_same_on_both_paths(monkeypatch, olist_files):
    """A few thousand packages, some with transfers (the per-package path), a location event
    per seller: the Olist sample of ``$OLIST_DIR``, else the generated demo data."""
    (fast, fast_rows), (portable, portable_rows) = on_both_paths(
        monkeypatch, lambda: _import_twice(olist_files))

    assert fast == portable
    assert fast_rows == portable_rows
    created = int(re.search(r"packages: (\d+) created", "\n".join(fast[0]))[1])
    assert len(fast_rows["packages"]) == created > 1000 and fast_rows["transfers"]
