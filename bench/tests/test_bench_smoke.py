"""Smoke run of every benchmark at tiny sizes, so they never rot (not a performance test:
nothing here asserts a speed). PostgreSQL only: the benchmarks use COPY, generate_series,
data-modifying CTEs and row locks; on SQLite these tests are skipped with the reason."""

from __future__ import annotations

import json
import os

import pytest
from django.db import connection

from bench import (
    actions,
    p1_actions,
    p1_inprocess,
    p3_dashboard,
    p4_recheck,
    p5_import,
    p6_list,
    p7_export,
    suite,
)
from bench.datagen import DatasetSpec, generate
from bench.server import api_token, gunicorn_server
from oms.api.models import ApiToken

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("bench_database")]


@pytest.fixture
def dataset():
    return generate(DatasetSpec(packages=600, open_packages=60, locations=150), verbose=False)


# The round trips of one production-shaped ship (bench.p1_actions / bench.p1_inprocess).
ENGINE_SHIP = ["SELECT", "SELECT",  # the token with its user, the token's stock locations
               "BEGIN", "SAVEPOINT", "INSERT", "RELEASE",  # the Idempotency-Key record
                    "SAVEPOINT", "SELECT", "SELECT",  # the package locked in scope, its items
                    "UPDATE", "INSERT", "INSERT",  # the package, its log row, its event
                    "SELECT", "RELEASE", "UPDATE", "COMMIT"]  # the log for the answer; the record


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


def _broker() -> str:
    return os.environ.get("REDIS_URL") or "memory://"  # CI: Redis, as the benchmark uses


def test_p1_and_p2_run_against_a_real_server_and_pgbench(dataset, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)  # in-process capture: prepared
    with gunicorn_server(workers=2, threads=1, broker=_broker()) as server, \
            gunicorn_server(workers=1, threads=2, settings=p1_actions.CEILING_SETTINGS, broker=_broker(),
                            ready_path=p1_actions.CEILING_PATH.format(number="-")) as ceiling_server:
        single = p1_actions.run(clients=2, per_client=5, repeat=1, quiet=True, server=server,
                                ceiling=True, ceiling_server=ceiling_server, broker=_broker())
        bulk = p1_actions.run(bulk=True, clients=2, per_client=2, bulk_size=10, repeat=1, quiet=True,
                              server=server, broker=_broker())
    assert set(single["runs"]) == {"app", "ceiling", "raw"} and set(bulk["runs"]) == {"app", "raw"}
    for result, packages in ((single, 10), (bulk, 40)):
        for row, (check,) in result["checks"].items():
            assert check["exactly_once"] and check["shipped"] == packages, (row, check)
        for row, (run,) in result["runs"].items():
            assert run["packages_per_second"] > 0 and run["p99_ms"] >= run["p50_ms"] > 0, row
    assert single["app_vs_ceiling"] == pytest.approx(
        single["app_packages_per_second"] / single["ceiling_packages_per_second"])
    assert "pgbench -n -M prepared -f" in single["commands"]["raw (pgbench)"]
    # the application's round trips for one production-shaped ship, and the baseline's two
    app = [sql.split()[0] for sql in single["statements"]["app"]]
    app = app[:app.index("COMMIT") + 1]  # tests dispatch events eagerly, after the commit
    assert app == ENGINE_SHIP
    assert single["statements"]["raw"] == 2 and single["pgbench_script_text"].count(";\n") == 1
    assert bulk["statements"]["raw"] == 1 and bulk["requests_per_run"] == 4


def test_ceiling_and_raw_sql_write_the_rows_the_api_writes(dataset, client, settings):
    from django.urls import Resolver404, resolve

    with pytest.raises(Resolver404):
        resolve("/bench/ceiling/BA-x-0000001/ship/")  # the product's URLs (oms.config.urls)
    locations = actions.scope_locations()
    key = api_token(locations=[code for _, code in locations])
    token_id = ApiToken.objects.get(user__username="bench-api", name=actions.TOKEN_NAME).pk
    api_number, number = actions.ship_pool(2, "ceilt", location_ids=[pk for pk, _ in locations])
    body = {"carrier": actions.CARRIER, "tracking_number": "TRK-1"}
    headers = {"If-Match": '"3"', "X-Bench-Token-Id": str(token_id)}
    answer = client.post(f"/api/v1/packages/{api_number}/actions/ship/", body,
                         content_type="application/json",
                         headers={**headers, "Authorization": f"Token {key}", "Idempotency-Key": "k1"})
    assert answer.status_code == 200
    settings.ROOT_URLCONF = "bench.ceiling_urls"
    path = p1_actions.CEILING_PATH.format(number=number)
    first, again = (client.post(path, body, content_type="application/json",
                                headers={**headers, "Idempotency-Key": key}) for key in ("k2", "k3"))
    assert first.status_code == 200 and first.json()["status"]["code"] == 550
    assert (again.status_code, again.json()) == (409, {"code": "not_allowed"})
    assert set(first.json()) == set(answer.json())
    assert first.json()["allowed_actions"] == answer.json()["allowed_actions"]
    assert len(first.json()["transitions"]) == len(answer.json()["transitions"]) == 4
    for numbers in ([api_number], [number]):
        assert actions.verify_pool(numbers, idempotency=True)["exactly_once"]
    events = [_one("SELECT e.payload FROM oms_outboxevent e JOIN packages_package p ON p.id = e.aggregate_id "
                   "WHERE p.number = %s", [n])[0] for n in (api_number, number)]
    events = [json.loads(e) if isinstance(e, str) else e for e in events]
    assert _shape(events[0]) == _shape(events[1])
    actions.cleanup()


def _shape(value):
    """The keys of a JSON value, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


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


def test_p7_export_streams_the_rows_copy_writes(dataset):
    result = p7_export.run(prefix=None, repeat=1, quiet=True)
    [measured] = result["sizes"]
    assert measured["rows"] == measured["packages"] == 600
    assert result["same_rows_as_copy"] and measured["traced_peak_mib"] > 0
    assert measured["app_s"] > 0 and measured["copy_s"] > 0 and measured["queries"] <= 6
    assert _verdicts("P7", result) == [True, None]


def test_p1_in_process_ships_through_the_engine(dataset):
    result = p1_inprocess.run(requests=5)
    assert result["requests"] == 5 and result["cpu_ms_per_request"] > 0
    # Idempotency-Key and If-Match: one transaction around the engine's statements
    # (tests hand events on eagerly: the dispatch's statements follow the COMMIT)
    sent = [sql.split()[0] for sql in result["statements"]]
    ship = sent[:sent.index("COMMIT") + 1]
    assert ship == ENGINE_SHIP
    assert not any("packages_package" in sql for sql in result["statements"][len(ship):])
