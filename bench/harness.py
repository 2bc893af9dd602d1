"""What every benchmark shares: Django on PostgreSQL, databases, raw connections, timing,
medians, the result table and the ``met`` / ``NOT met`` verdicts.

A benchmark module's ``main()`` calls ``bootstrap(db_name)`` first, with the name its ``--db``
option gave (the only way a benchmark chooses a database; ``BENCH_SERVER_URL`` may point at
another server, ``postgres://postgres@127.0.0.1:5432`` by default). ``bootstrap`` creates
the database when missing and marks it as a benchmark's (the table ``bench_marker``); an
existing database without that table is refused (``UnmarkedDatabase``, exit status 1), so a
benchmark never writes into, let alone empties, a database it did not create. It then runs
``django.setup()`` with production-like settings (``DJANGO_DEBUG=false``, Celery's in-memory
broker so no task leaves the process and no shared Redis queue fills up, API rate limits off
since a benchmark sends many requests per token) and migrates. The
measuring functions themselves only use Django's ``connection``; every function that empties
tables checks the marker again (``require_marked``), so the smoke test marks the pytest
database explicitly (``mark_database``) before running them there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
RESULTS_DIR = BASE_DIR / "var" / "bench"
SAMPLE_ORDERS = 3512  # orders of the Olist sample (4,000 item rows)
SAMPLE_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # generated ship-by dates: around this day


def olist_files() -> Path:
    """The Olist CSV files the benchmarks read: ``$OLIST_DIR`` (your download of the Olist
    data) when set, else a set in the Olist sample's shape generated once into
    ``var/bench/olist-sample`` (``demo.sample_data``, seed 1, as many orders as the sample)."""
    if os.environ.get("OLIST_DIR"):
        return Path(os.environ["OLIST_DIR"])
    from demo.sample_data import olist_sample_write

    target = RESULTS_DIR / "olist-sample"
    if not (target / "order_items.csv").is_file():
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="olist-sample-", dir=RESULTS_DIR))
        olist_sample_write(staging, orders=SAMPLE_ORDERS, now=SAMPLE_NOW)
        try:
            staging.rename(target)
        except OSError:  # another process got there first
            shutil.rmtree(staging)
    return target


# --- process set-up ---------------------------------------------------------------------------

MARKER_TABLE = "bench_marker"


class UnmarkedDatabase(SystemExit):
    """A benchmark was pointed at a database it did not create (no ``bench_marker`` table).
    A ``SystemExit``: the command stops with the message and exit status 1."""


def database_url(db_name: str) -> str:
    """Return the URL of ``db_name`` on the benchmark server (``BENCH_SERVER_URL``).

    Raises ``SystemExit`` when ``BENCH_DATABASE_URL`` is set: it used to send every dataset
    size into one database; the database is now chosen by ``--db`` only."""
    if os.environ.get("BENCH_DATABASE_URL"):
        raise SystemExit("BENCH_DATABASE_URL is no longer read: choose the database with --db NAME "
                         "and the server with BENCH_SERVER_URL (postgres://user@host:port)")
    if not db_name or not _DB_NAME.fullmatch(db_name):
        raise SystemExit(f"--db: {db_name!r} is not a plain database name (letters, digits, _ and -)")
    base = os.environ.get("BENCH_SERVER_URL", DEFAULT_SERVER_URL).rstrip("/")
    return f"{base}/{db_name}"


_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")


def _server_params(url: str) -> tuple[dict, str]:
    parts = urlsplit(url)
    params = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 5432,
              "user": parts.username or "postgres"}
    if parts.password:
        params["password"] = parts.password
    return params, parts.path.lstrip("/")


def create_database(url: str, *, created_by: str = "bench") -> bool:
    """Create the database named in ``url`` and mark it, or check that an existing one is
    marked; return True if created. Raises ``UnmarkedDatabase`` for an existing database
    without the marker table (whatever it holds: nothing of it is touched)."""
    import psycopg
    from psycopg import sql

    params, name = _server_params(url)
    conn = psycopg.connect(dbname="postgres", **params, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            exists = cursor.fetchone() is not None
            if not exists:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    conn = psycopg.connect(dbname=name, **params)
    try:
        with conn, conn.cursor() as cursor:
            if exists:
                cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
                if cursor.fetchone()[0] is None:
                    raise UnmarkedDatabase(_refusal(name))
            else:
                _write_marker(cursor, name, created_by)
    finally:
        conn.close()
    return not exists


def _refusal(name: str) -> str:
    return (f"refusing to use the database {name!r}: it exists and was not created by a benchmark "
            f"(no table {MARKER_TABLE}). Benchmarks write, and empty tables, only in databases they "
            f"created: pass --db with a new name (it will be created), or drop {name!r} if it is "
            "a benchmark's own left-over.")


def _write_marker(cursor, name: str, created_by: str) -> None:
    cursor.execute(f"""CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (
                           database text NOT NULL, created_by text NOT NULL,
                           created_at timestamptz NOT NULL DEFAULT now())""")
    cursor.execute(f"INSERT INTO {MARKER_TABLE} (database, created_by) VALUES (%s, %s)", [name, created_by])


def mark_database(created_by: str) -> None:
    """Mark Django's current database as a benchmark's (for a database a benchmark did not
    create itself but owns all the same: the smoke test's pytest database)."""
    from django.db import connection

    with connection.cursor() as cursor:
        _write_marker(cursor, connection.settings_dict["NAME"], created_by)


def is_marked() -> bool:
    """Return True if Django's current database carries the benchmark marker."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        return cursor.fetchone()[0] is not None


def require_marked() -> None:
    """Raise ``UnmarkedDatabase`` unless Django's current database is a benchmark's. Called
    by every function that empties or replaces tables."""
    if not is_marked():
        from django.db import connection

        raise UnmarkedDatabase(_refusal(connection.settings_dict["NAME"]))


# A benchmark sends thousands of requests per token: no API throttling in its processes.
BENCH_RATE_LIMITS_OFF = {"API_THROTTLE_RATE": "off", "API_UNAUTHENTICATED_THROTTLE_RATE": "off"}


def bootstrap(db_name: str, *, migrate: bool = True) -> str:
    """Configure this process for a benchmark on ``db_name`` and set Django up; return the URL.

    Creates and marks ``db_name`` when missing; raises ``UnmarkedDatabase`` when it exists
    without the marker (before anything is written to it)."""
    url = database_url(db_name)
    create_database(url, created_by=_command())
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("BENCH_SETTINGS_MODULE", "oms.config.settings")
    os.environ["DJANGO_DEBUG"] = "false"
    # Production settings over plain HTTP on loopback: a key and hosts (else the settings
    # refuse to start), no TLS redirect or secure-only cookies. Servers started from here inherit them.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "false"
    os.environ["DJANGO_SECURE_COOKIES"] = "false"
    os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_CELERY_BROKER_URL", "memory://")
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.update(BENCH_RATE_LIMITS_OFF)
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    if migrate:
        migrate_current()
    return url


def _command() -> str:
    return " ".join(["python", *sys.argv])[:500]


def ensure_static() -> None:
    """Run ``collectstatic`` once when the manifest the production storage needs is missing
    (pages rendered with ``DJANGO_DEBUG=false`` look their assets up in it)."""
    from django.conf import settings
    from django.core.management import call_command

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)


def migrate_current() -> None:
    """Bring the current database up to the project's migrations (quiet)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def use_database(db_name: str, *, migrate: bool = True) -> str:
    """Switch Django's default connection to ``db_name`` (created and marked if missing,
    refused if unmarked, as in ``bootstrap``); return its URL."""
    from django.db import connections

    url = database_url(db_name)
    create_database(url, created_by=_command())
    connection = connections["default"]
    connection.close()
    if connection.alias in getattr(connection, "_connection_pools", {}):
        connection.close_pool()  # a pool goes on connecting to the database it was opened for
    connection.settings_dict["NAME"] = _server_params(url)[1]
    if migrate:
        migrate_current()
    return url


def current_database_url() -> str:
    """Return a ``postgres://`` URL for Django's current default database."""
    from django.db import connection

    s = connection.settings_dict
    auth = s.get("USER") or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return urlunsplit(("postgres", f"{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}",
                       f"/{s['NAME']}", "", ""))


def raw_connection(*, autocommit: bool = False):
    """Return a new psycopg connection to Django's current database (for raw-SQL baselines):
    its cursors bind parameters client-side, so a script of several statements separated by
    ``;`` may take parameters."""
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    params = {"dbname": s["NAME"], "user": s.get("USER") or "postgres",
              "host": s.get("HOST") or "127.0.0.1", "port": s.get("PORT") or 5432}
    if s.get("PASSWORD"):
        params["password"] = s["PASSWORD"]
    return psycopg.connect(**params, autocommit=autocommit, cursor_factory=psycopg.ClientCursor)


def require_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("benchmarks run on PostgreSQL only (BENCH_SERVER_URL names the server)")


# --- measuring --------------------------------------------------------------------------------

def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Run ``fn`` once; return ``(seconds, result)``."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


@contextmanager
def count_queries():
    """Count the SQL statements run on Django's connection: ``with count_queries() as q: …; len(q)``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        yield context


def machine_summary() -> dict:
    """Return what bounds every figure: CPU count, model, memory, PostgreSQL version."""
    info = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    except Exception:  # noqa: BLE001 - informational only
        pass
    return info


# --- reporting --------------------------------------------------------------------------------

def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


@dataclass
class Table:
    """A plain-text result table: ``add(...)`` rows, ``print()`` it."""

    title: str
    columns: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *values) -> None:
        self.rows.append([_fmt(value) for value in values])

    def render(self) -> str:
        widths = [max(len(str(c)), *(len(r[i]) for r in self.rows)) if self.rows else len(str(c))
                  for i, c in enumerate(self.columns)]
        line = "  ".join("-" * w for w in widths)
        out = [self.title, line,
               "  ".join(str(c).ljust(w) for c, w in zip(self.columns, widths, strict=True)), line]
        out += ["  ".join(v.rjust(w) if _numeric(v) else v.ljust(w)
                          for v, w in zip(r, widths, strict=True)) for r in self.rows]
        out.append(line)
        return "\n".join(out)

    def print(self) -> None:
        print(self.render(), flush=True)


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-.") and not text.startswith("--")


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def save_results(name: str, results: dict, path: str | None = None) -> Path:
    """Write ``results`` (plus the machine summary) as JSON to ``path`` or ``var/bench/<name>.json``."""
    target = Path(path) if path else RESULTS_DIR / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": machine_summary(), **results}
    target.write_text(json.dumps(payload, indent=2, default=str))
    return target


def rerun_command(module: str, args: argparse.Namespace) -> str:
    """The command that re-runs this benchmark with ``args`` as parsed (every option spelt
    out, so defaults changed later do not change what it measures); ``--json`` left out."""
    parts = [".venv/bin/python", "-m", module]
    for name, value in vars(args).items():
        if name == "json" or value is None or value is False:
            continue
        option = "--" + name.replace("_", "-")
        parts += [option] if value is True else [option, str(value)]
    return shlex.join(parts)


def base_parser(description: str, *, db: str) -> argparse.ArgumentParser:
    """Return an argument parser with the options every benchmark has."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", default=db, help=f"database name on the local server (default {db})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measurements per figure; the median is reported")
    parser.add_argument("--json", default=None, help="write results here (default var/bench/<name>.json)")
    return parser
