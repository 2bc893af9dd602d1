"""Smoke run of every benchmark at tiny sizes, so they never rot (not a performance test:
nothing here asserts a speed). PostgreSQL only: the benchmarks use COPY, generate_series,
data-modifying CTEs and row locks; on SQLite these tests are skipped with the reason."""

from __future__ import annotations

import pytest
from django.db import connection

from bench import p1_actions, p3_dashboard, p4_recheck, p5_import, p6_list
from bench.datagen import DatasetSpec, generate
from bench.server import gunicorn_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dataset():
    return generate(DatasetSpec(packages=600, open_packages=60, locations=150), verbose=False)


def _one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_generator_writes_consistent_stock_and_the_state_mix(dataset):
    assert dataset["packages"] == 600 and dataset["locations"] == 150
    open_count = _one("SELECT count(*) FROM packages_package "
                      "WHERE status NOT IN (700, 710, 720, 800, 900, 910)")[0]
    assert open_count == 60
    mismatched = _one("""
        WITH r AS (SELECT p.location_id, i.sku_id, sum(i.quantity) AS q
                   FROM packages_package p JOIN packages_packageitem i ON i.package_id = p.id
                   WHERE p.status IN (100, 200, 400, 850) GROUP BY 1, 2)
        SELECT count(*) FROM locations_stocklevel s LEFT JOIN r USING (location_id, sku_id)
        WHERE coalesce(r.q, 0) <> s.reserved OR s.reserved > s.on_hand""")[0]
    assert mismatched == 0


def test_p4_service_and_set_based_sql_reach_the_same_outcome(dataset):
    result = p4_recheck.run(packages=300, repeat=1, quiet=True)
    assert result["mismatches"] == []
    assert result["service_outcome"]["rescheduled"] == result["sql_outcome"]["rescheduled"] == 30
    assert result["sql_outcome"]["still_short"] == 270


def test_p5_importer_and_raw_sql_import_the_same_rows():
    result = p5_import.run(scale=1, repeat=1, memory=False, max_rows=300, quiet=True)
    assert result["item_rows"] == 300
    assert result["importer_packages"] > 200
    assert abs(result["importer_packages"] - result["baseline_packages"]) <= 2


def test_p1_and_p2_run_against_a_real_server(dataset):
    with gunicorn_server(workers=2, threads=1) as server:
        single = p1_actions.run(clients=2, per_client=5, repeat=1, quiet=True, server=server)
        bulk = p1_actions.run(bulk=True, clients=1, per_client=1, bulk_size=20, repeat=1, quiet=True,
                              server=server)
    assert single["http_packages_per_second"] > 0 and single["raw_packages_per_second"] > 0
    assert bulk["packages_per_run"] == 20


def test_p3_pages_answer_with_their_query_counts(dataset):
    client = p3_dashboard.web_client(p3_dashboard.staff_user())
    dashboard = p3_dashboard.time_get(client, "/packages/movements/", repeat=1, warmup=1)
    code = _one("""SELECT l.code FROM locations_stocklocation l
                   JOIN packages_package p ON p.location_id = l.id
                   GROUP BY l.code ORDER BY count(*) DESC LIMIT 1""")[0]
    location = p3_dashboard.time_get(client, f"/locations/{code}/", repeat=1, warmup=1)
    assert dashboard["status"] == location["status"] == 200
    assert dashboard["queries"] > 0 and location["queries"] > 0


def test_p6_deep_cursor_page_starts_where_it_should(dataset):
    result = p6_list.run(depth=100, repeat=1, quiet=True)
    assert set(result["pages"]) == {"page 1", "page at row 101"}
