"""Smoke run of every benchmark at tiny sizes, so they never rot (not a performance test:
nothing here asserts a speed). PostgreSQL only: the benchmarks use COPY, generate_series,
data-modifying CTEs and row locks; on SQLite these tests are skipped with the reason."""

from __future__ import annotations

import pytest
from django.db import connection

from bench import actions, p1_actions, p1_inprocess, p3_dashboard, p4_recheck, p5_import, p6_list, suite
from bench.datagen import DatasetSpec, generate
from bench.server import gunicorn_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("bench_database")]


@pytest.fixture
def dataset():
    return generate(DatasetSpec(packages=600, open_packages=60, locations=150), verbose=False)


def _verdicts(name: str, result: dict) -> list:
    """The suite's verdicts for ``result`` (it reads each benchmark's result as written)."""
    bench = next(b for b in suite.BENCHMARKS if b.name == name)
    rows = suite.rows_from(bench, result, "cmd")
    assert all(row.figure and row.baseline and row.command == "cmd" for row in rows), rows
    return [row.met for row in rows]


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
    assert len(_verdicts("P4", result)) == 1


def test_p5_importer_and_raw_sql_import_the_same_rows():
    result = p5_import.run(scale=1, repeat=1, memory=False, max_rows=300, quiet=True)
    assert result["item_rows"] == 300
    assert result["importer_packages"] > 200
    assert abs(result["importer_packages"] - result["baseline_packages"]) <= 2
    assert len(_verdicts("P5", result)) == 1


def test_p1_and_p2_run_against_a_real_server(dataset, monkeypatch):
    checked = []  # (numbers, shipped) of every shipped_count call: each run's own check
    real_count = actions.shipped_count

    def counting(numbers):
        shipped = real_count(numbers)
        checked.append((list(numbers), shipped))
        return shipped

    monkeypatch.setattr(actions, "shipped_count", counting)
    with gunicorn_server(workers=2, threads=1) as server, \
            gunicorn_server(workers=1, threads=2, settings=p1_actions.CEILING_SETTINGS,
                            ready_path=p1_actions.CEILING_PATH.format(number="-")) as ceiling_server:
        single = p1_actions.run(clients=2, per_client=5, repeat=1, quiet=True, server=server,
                                ceiling=True, ceiling_server=ceiling_server)
        bulk = p1_actions.run(bulk=True, clients=1, per_client=1, bulk_size=20, repeat=1, quiet=True,
                              server=server)
    assert single["http_packages_per_second"] > 0 and single["raw_packages_per_second"] > 0
    assert single["ceiling_packages_per_second"] > 0 and len(single["ceiling_runs"]) == 1
    assert single["http_vs_ceiling"] == pytest.approx(
        single["http_packages_per_second"] / single["ceiling_packages_per_second"])
    ceiling_checks = [(numbers, shipped) for numbers, shipped in checked
                      if numbers[0].startswith("BA-p1c0-")]
    assert [(len(numbers), shipped) for numbers, shipped in ceiling_checks] == [(10, 10)]
    assert bulk["packages_per_run"] == 20 and "ceiling_runs" not in bulk


def test_ceiling_view_ships_once_with_the_baseline_rows_and_is_not_in_the_product(dataset, client,
                                                                                   settings):
    from django.urls import Resolver404, resolve

    with pytest.raises(Resolver404):
        resolve("/bench/ceiling/BA-x-0000001/ship/")  # the product's URLs (oms.urls)
    settings.ROOT_URLCONF = "bench.ceiling_urls"
    number = actions.ship_pool(1, "ceilt")[0]
    path = p1_actions.CEILING_PATH.format(number=number)
    body = {"carrier": actions.CARRIER, "tracking_number": "TRK-1"}
    first = client.post(path, body, content_type="application/json")
    again = client.post(path, body, content_type="application/json")
    assert (first.status_code, first.json()) == (200, {"number": number, "status": 700})
    assert (again.status_code, again.json()) == (409, {"code": "not_allowed"})
    row = _one("SELECT p.status, p.version, p.carrier, p.tracking_number, "
               "(SELECT count(*) FROM packages_packagetransition t WHERE t.package_id = p.id "
               " AND t.action = 'ship' AND t.from_status = 500 AND t.to_status = 700), "
               "(SELECT count(*) FROM oms_outboxevent e WHERE e.aggregate_type = 'package' "
               " AND e.aggregate_id = p.id) FROM packages_package p WHERE p.number = %s", [number])
    assert row == (700, 4, actions.CARRIER, "TRK-1", 1, 1)
    actions.cleanup()


def test_p3_pages_answer_with_the_numbers_of_the_raw_aggregate(dataset):
    result = p3_dashboard.measure_current(repeat=1)
    assert result["dashboard"]["status"] == result["location_view"]["status"] == 200
    assert result["dashboard"]["queries"] > 0 and result["location_view"]["queries"] > 0
    assert result["open_packages"] == 60
    assert result["same_numbers_as_raw_sql"]  # cards, location count and totals alike
    _, rows = p3_dashboard.time_sql(p3_dashboard.DASHBOARD_SQL, repeat=1)
    numbers = p3_dashboard.raw_numbers(rows)
    assert numbers["locations"] == _one("SELECT count(DISTINCT location_id) FROM packages_package")[0]
    assert numbers["totals"][-1] == _one(
        "SELECT count(*) FROM packages_package WHERE status IN (100, 200, 300, 400)")[0]


def test_p6_deep_cursor_page_starts_where_it_should(dataset):
    result = p6_list.run(depth=100, repeat=1, quiet=True)
    assert set(result["pages"]) == {"page 1", "page at row 101"}
    assert len(_verdicts("P6", result)) == 1


def test_p1_in_process_ships_in_two_statements(dataset, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)  # as served: statements prepared
    result = p1_inprocess.run(requests=5)
    assert result["requests"] == 5 and result["cpu_ms_per_request"] > 0
    # the read and the guarded write (tests hand events on eagerly: the dispatch's reads follow)
    assert [sql.split()[0] for sql in result["statements"][:2]] == ["EXECUTE", "EXECUTE"]
    assert not any("packages_package" in sql for sql in result["statements"][2:])
