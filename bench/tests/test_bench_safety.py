"""The benchmarks write only into databases they created: ``--db`` alone chooses the
database, one without the ``bench_marker`` table is refused before anything is written, and
emptying tables names them (no ``CASCADE``) in marked databases only."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from bench import harness, p5_import
from bench.datagen import DatasetSpec, dataset_tables, generate, reset_tables


def test_the_database_comes_from_db_alone(monkeypatch):
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("BENCH_SERVER_URL", "postgres://bench@db.example:5433/")
    assert harness.database_url("oms_bench_50000") == "postgres://bench@db.example:5433/oms_bench_50000"
    # the old override sent every size into one database: refused, with what to use instead
    monkeypatch.setenv("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/anything")
    with pytest.raises(SystemExit, match="--db"):
        harness.database_url("oms_bench_50000")
    monkeypatch.delenv("BENCH_DATABASE_URL")
    with pytest.raises(SystemExit, match="plain database name"):
        harness.database_url("x/../y")


def _server_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s.get('USER') or 'postgres'}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}"


def _admin(dbname: str = "postgres"):
    s = connection.settings_dict
    return psycopg.connect(dbname=dbname, user=s.get("USER") or "postgres",
                           host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432,
                           password=s.get("PASSWORD") or None, autocommit=True)


@pytest.fixture
def foreign_database():
    """A database no benchmark created, with a table and a row in it; dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_unmarked"[:63]
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    with _admin(name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE packages_package (id int PRIMARY KEY, number text)")
        cur.execute("INSERT INTO packages_package VALUES (1, 'PRECIOUS-1')")
    conn.close()
    yield name
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def _rows(name: str) -> list:
    conn = _admin(name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, number FROM packages_package")
            return cur.fetchall()
    finally:
        conn.close()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("module, args", [("bench.datagen", ["--packages", "10"]),
                                          ("bench.p5_import", ["--repeat", "1", "--no-memory"])])
def test_a_command_pointed_at_a_database_it_did_not_create_refuses_and_writes_nothing(
        foreign_database, module, args):
    env = {**os.environ, "BENCH_SERVER_URL": _server_url()}
    env.pop("BENCH_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", module, "--db", foreign_database, *args],
                          cwd=harness.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"refusing to use the database '{foreign_database}'" in done.stderr
    assert _rows(foreign_database) == [(1, "PRECIOUS-1")]  # not emptied, not migrated into
    conn = _admin(foreign_database)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert cur.fetchone()[0] == 1
    conn.close()


@pytest.mark.postgres
def test_a_new_database_is_created_marked_and_accepted_again():
    name = f"{connection.settings_dict['NAME']}_new"[:63]
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    try:
        url = f"{_server_url()}/{name}"
        assert harness.create_database(url, created_by="test") is True
        assert harness.create_database(url, created_by="test") is False  # marked: accepted
        conn = _admin(name)
        with conn.cursor() as cur:
            cur.execute("SELECT database, created_by FROM bench_marker")
            assert cur.fetchall() == [(name, "test")]
        conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def unmarked_test_database(transactional_db):
    """The pytest database without its marker for one test (marked again afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {harness.MARKER_TABLE}")
    yield
    harness.mark_database("pytest (bench/tests)")


@pytest.mark.postgres
def test_generator_and_import_refuse_an_unmarked_database_and_leave_its_rows(unmarked_test_database):
    from locations.models import StockLocation
    from packages.models import Brand

    StockLocation.objects.create(code="KEEP-1", name="Keep me")
    Brand.objects.create(slug="keep", name="Keep")
    with pytest.raises(harness.UnmarkedDatabase, match="not created by a benchmark"):
        generate(DatasetSpec(packages=10, locations=5), verbose=False)
    with pytest.raises(harness.UnmarkedDatabase):
        p5_import.run(scale=1, repeat=1, memory=False, max_rows=20, quiet=True)
    with pytest.raises(harness.UnmarkedDatabase):
        reset_tables()
    assert list(StockLocation.objects.values_list("code", flat=True)) == ["KEEP-1"]
    assert list(Brand.objects.values_list("slug", flat=True)) == ["keep"]


@pytest.mark.postgres
def test_emptying_names_its_tables_and_never_cascades_to_another(bench_database):
    from packages.models import Brand

    tables = dataset_tables()
    for name in ("packages_package", "packages_packageitem", "packages_packagetransition",
                 "locations_stocklevel", "oms_outboxevent", "transfers_transfer"):
        assert f'"{name}"' in tables
    assert '"auth_user"' not in tables and f'"{harness.MARKER_TABLE}"' not in tables
    Brand.objects.create(slug="b", name="B")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_outsider (brand_id bigint REFERENCES packages_brand (id))")
        cursor.execute("INSERT INTO bench_outsider SELECT id FROM packages_brand")
    try:
        with pytest.raises(Exception, match="foreign key"):
            reset_tables()  # CASCADE would have emptied bench_outsider too
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_outsider")
            assert cursor.fetchone()[0] == 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_outsider")
    reset_tables()
    assert not Brand.objects.exists()


@pytest.mark.postgres
def test_use_database_moves_the_pooled_connection_to_the_new_database(bench_database):
    original = connection.settings_dict["NAME"]
    name = f"{original}_switch"[:63]
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')

    def current() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            return cursor.fetchone()[0]

    try:
        pooled = bool(connection.settings_dict["OPTIONS"].get("pool"))
        assert current() == original
        harness.use_database(name, migrate=False)
        assert current() == name, f"pool: {pooled}"
    finally:
        harness.use_database(original, migrate=False)
        assert current() == original
        connection.close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
