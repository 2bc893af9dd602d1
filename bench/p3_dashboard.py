"""P3: Package Location Movements: server time and query count of the dashboard and of the
17-state location view, each against the raw aggregate query yielding the same numbers, at
two dataset sizes, in two rows:

* ``history``: the open work constant (``--open``, default 2,000 open packages at both
  sizes), so only the history (Delivered, Canceled …) grows;
* ``share``: 4 % of the packages open at both sizes (2,000 at 50k, 40,000 at 1M), so the
  open work grows with the history.

    .venv/bin/python -m bench.p3_dashboard                               # 50k vs 200k, both rows
    .venv/bin/python -m bench.p3_dashboard --large 1000000 --rows history  # issue-sized (opt-in)
    .venv/bin/python -m bench.p3_dashboard --large 1000000 --rows share
    .venv/bin/python -m bench.p3_dashboard --large 1000000 --explain     # + EXPLAIN ANALYZE at 1M

Databases: ``--db PREFIX`` (default ``oms_bench``) names them: ``<prefix>_<size>`` holds a
dataset with ``--open`` open packages, ``<prefix>_<size>_open<k>`` one with ``k``; each is
created, marked and generated on first use, then kept (``bench.datagen``). Pages are
requested in this process through Django's test client as a logged-in staff user (every
location visible), which times the whole server side (middleware, session, view,
selectors, template) without the network. Queries are counted with
``CaptureQueriesContext``; the session and user lookups every logged-in page makes are
included. The raw aggregate (``DASHBOARD_SQL``) is one hand-written statement returning
every number the dashboard shows (the first page of cards, the totals, the number of
locations); each run checks that the page shows exactly those numbers. Every dataset is
measured ``--rounds`` times in turn (``--repeat`` requests each), so the sizes compared share
whatever load the machine has; medians over all requests.

Targets (issue 8): ``history``: at 1M each page within 1.5x of its 50k time, at most 5
queries. ``share``: at 1M the dashboard within 1.5x of the raw aggregate, at most 5 queries.
A run whose large size is below 1M prints a provisional verdict.
"""

from __future__ import annotations

import html
import re
import sys
import time

from django.db.models import Count

from bench.datagen import OPEN_SHARE, DatasetSpec, ensure_dataset
from bench.harness import (
    Table,
    base_parser,
    bootstrap,
    count_queries,
    ensure_static,
    median,
    raw_connection,
    require_postgresql,
    save_results,
    use_database,
    verdict,
)

TARGET_GROWTH = 1.5
TARGET_RAW = 1.5
TARGET_QUERIES = 5
OPEN_PACKAGES = 2000
ISSUE_LARGE = 1_000_000
ROWS = ("history", "share")
DEFAULT_PREFIX = "oms_bench"


def dataset_db(prefix: str, size: int, open_packages: int = OPEN_PACKAGES) -> str:
    """The database of the dataset ``size`` packages, ``open_packages`` of them open."""
    return f"{prefix}_{size}" if open_packages == OPEN_PACKAGES else f"{prefix}_{size}_open{open_packages}"


def share_open(size: int) -> int:
    return round(size * OPEN_SHARE)


def web_client(user=None, **extra):
    """A Django test client for this process's settings (host 127.0.0.1), logged in as ``user``."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", **extra)
    if user is not None:
        client.force_login(user)
    return client


def staff_user():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_active": True})
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def time_get(client, path: str, *, repeat: int, warmup: int = 2) -> dict:
    """GET ``path`` ``warmup`` + ``repeat`` times; return median ms, query count, status, the
    captured SQL and the last body."""
    for _ in range(warmup):
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(path)
        samples.append(time.perf_counter() - started)
    with count_queries() as queries:
        response = client.get(path)
    return {"ms": median(samples) * 1000, "samples_ms": [s * 1000 for s in samples],
            "queries": len(queries), "sql": [q["sql"] for q in queries.captured_queries],
            "status": response.status_code, "body": response.content.decode()}


def time_sql(sql: str, params=(), *, repeat: int) -> tuple[float, list]:
    """Median ms of ``sql`` on a fresh raw connection (after one warm-up), and its rows."""
    conn = raw_connection(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                cur.execute(sql, params)
                cur.fetchall()
                samples.append(time.perf_counter() - started)
    finally:
        conn.close()
    return median(samples) * 1000, rows


# Every number of the dashboard's first page (staff, no search, most waiting first): the 48
# cards, the number of locations with packages, and the totals of the four counts.
DASHBOARD_SQL = """
    WITH c AS (
        SELECT location_id,
               count(*) FILTER (WHERE status = 100) AS waiting,
               count(*) FILTER (WHERE status = 200) AS preparing,
               count(*) FILTER (WHERE status = 300) AS waiting_transfer,
               count(*) FILTER (WHERE status = 400) AS ready,
               count(*) AS open_total
        FROM packages_package WHERE status IN (100, 200, 300, 400) GROUP BY location_id
    ), cards AS (
        SELECT l.code, coalesce(c.waiting, 0) AS waiting, coalesce(c.preparing, 0) AS preparing,
               coalesce(c.waiting_transfer, 0) AS waiting_transfer, coalesce(c.ready, 0) AS ready,
               coalesce(c.open_total, 0) AS open_total
        FROM locations_stocklocation l LEFT JOIN c ON c.location_id = l.id
        WHERE EXISTS (SELECT 1 FROM packages_package x WHERE x.location_id = l.id)
    )
    SELECT code, waiting, preparing, waiting_transfer, ready, open_total,
           count(*) OVER (), sum(waiting) OVER (), sum(preparing) OVER (),
           sum(waiting_transfer) OVER (), sum(ready) OVER (), sum(open_total) OVER ()
    FROM cards ORDER BY waiting DESC, open_total DESC, code LIMIT 48
"""
LOCATION_SQL = """
    SELECT status, count(*) FROM packages_package WHERE location_id = %s GROUP BY status
"""

_CARD = re.compile(r'data-location="([^"]*)"')
_COUNT = re.compile(r'data-status="(\d+)" data-count="(\d+)"')
_LOCATIONS = re.compile(r'([\d,]+) locations?:')
_TOTAL = re.compile(r'<span class="total"><b>(\d+)</b>')


def page_numbers(body: str) -> dict:
    """The numbers a dashboard page shows: cards ``[(code, [4 counts])]``, the number of
    locations and the totals (4 counts and the open total)."""
    results = body[body.index('id="movement-results"'):]
    cards = []
    for chunk in results.split('<article class="card"')[1:]:
        code = html.unescape(_CARD.search(chunk).group(1))
        cards.append((code, [int(n) for _, n in _COUNT.findall(chunk)]))
    return {"cards": cards, "locations": int(_LOCATIONS.search(results).group(1).replace(",", "")),
            "totals": [int(n) for n in _TOTAL.findall(results)]}


def raw_numbers(rows: list) -> dict:
    """``page_numbers``' shape from ``DASHBOARD_SQL``'s rows."""
    if not rows:
        return {"cards": [], "locations": 0, "totals": [0] * 5}
    return {"cards": [(r[0], [int(v) for v in r[1:5]]) for r in rows], "locations": rows[0][6],
            "totals": [int(v) for v in rows[0][7:12]]}


def measure_current(*, repeat: int, location_code: str | None = None) -> dict:
    """Measure the two pages and their raw SQL on Django's current database (the location
    view of ``location_code``, by default of the location with the most packages)."""
    from locations.models import StockLocation
    from packages.models import Package

    if location_code is None:
        busiest = Package.objects.values("location_id").annotate(n=Count("pk")).order_by("-n").first()
        location = StockLocation.objects.get(pk=busiest["location_id"])
    else:
        location = StockLocation.objects.get(code=location_code)
    busiest = {"n": Package.objects.filter(location=location).count()}
    client = web_client(staff_user())
    dashboard = time_get(client, "/packages/movements/", repeat=repeat)
    location_view = time_get(client, f"/locations/{location.code}/", repeat=repeat)
    dashboard_sql_ms, rows = time_sql(DASHBOARD_SQL, repeat=repeat)
    shown, expected = page_numbers(dashboard.pop("body")), raw_numbers(rows)
    location_view.pop("body")
    return {
        "packages": Package.objects.count(),
        "open_packages": Package.objects.exclude(status__in=(700, 710, 720, 800, 900, 910)).count(),
        "busiest_location": location.code, "busiest_location_packages": busiest["n"],
        "dashboard": dashboard, "location_view": location_view,
        "dashboard_sql_ms": dashboard_sql_ms,
        "location_sql_ms": time_sql(LOCATION_SQL, [location.pk], repeat=repeat)[0],
        "same_numbers_as_raw_sql": shown == expected,
    }


def explain(sqls: list[str]) -> list[str]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each statement (read-only: the dashboard's)."""
    out = []
    conn = raw_connection(autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in sqls:
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                out.append(sql + "\n" + "\n".join(row[0] for row in cur.fetchall()))
    finally:
        conn.close()
    return out


def measure_size(prefix: str, size: int, *, open_packages: int, repeat: int,
                 explain_plans: bool = False) -> dict:
    use_database(dataset_db(prefix, size, open_packages))
    ensure_dataset(DatasetSpec(packages=size, open_packages=open_packages))
    result = {"size": size, "database": dataset_db(prefix, size, open_packages),
              **measure_current(repeat=repeat)}
    if explain_plans:
        result["explain"] = explain([s for s in result["dashboard"]["sql"] if "packages_package" in s]
                                    + [DASHBOARD_SQL])
    return result


def command(prefix: str, small: int, large: int, row: str, open_packages: int) -> str:
    cmd = f".venv/bin/python -m bench.p3_dashboard --db {prefix} --small {small} --large {large} --rows {row}"
    return cmd + (f" --open {open_packages}" if row == "history" and open_packages != OPEN_PACKAGES else "")


def run(*, prefix: str = DEFAULT_PREFIX, small: int = 50_000, large: int = 200_000,
        rows: tuple[str, ...] = ROWS, open_packages: int = OPEN_PACKAGES, repeat: int = 5,
        rounds: int = 3, explain_plans: bool = False, quiet: bool = False) -> dict:
    """Measure the ``rows`` (``history``, ``share``) at ``small`` and ``large``; return them.

    Every dataset is measured ``rounds`` times in turn (``repeat`` requests each time), so
    the sizes compared share the machine's load; medians over all requests."""
    wanted = []
    if "history" in rows:
        wanted += [(small, open_packages), (large, open_packages)]
    if "share" in rows:
        wanted += [(small, share_open(small)), (large, share_open(large))]
    measured = {}
    for size, k in dict.fromkeys(wanted):
        measured[size, k] = measure_size(prefix, size, open_packages=k, repeat=repeat,
                                         explain_plans=explain_plans and size == large)
    for _ in range(rounds - 1):  # the datasets in turn again: load on the machine weighs on all
        for dataset in measured.values():
            use_database(dataset["database"], migrate=False)
            again = measure_current(repeat=repeat, location_code=dataset["busiest_location"])
            for key in ("dashboard", "location_view"):
                dataset[key]["samples_ms"] += again[key]["samples_ms"]
                dataset[key]["ms"] = median(dataset[key]["samples_ms"])
            for key in ("dashboard_sql_ms", "location_sql_ms"):
                dataset.setdefault(f"{key}_rounds", [dataset[key]]).append(again[key])
                dataset[key] = median(dataset[f"{key}_rounds"])
            dataset["same_numbers_as_raw_sql"] &= again["same_numbers_as_raw_sql"]
    result = {"prefix": prefix, "small": small, "large": large, "repeat": repeat, "rounds": rounds,
              "provisional": large < ISSUE_LARGE, "datasets": list(measured.values()), "rows": []}
    if "history" in rows:
        a, b = measured[small, open_packages], measured[large, open_packages]
        for page, sql_key in (("dashboard", "dashboard_sql_ms"), ("location_view", "location_sql_ms")):
            growth = b[page]["ms"] / a[page]["ms"]
            result["rows"].append({
                "row": "history", "page": page, "open": [open_packages, open_packages],
                "ms": [a[page]["ms"], b[page]["ms"]], "queries": [a[page]["queries"], b[page]["queries"]],
                "raw_sql_ms": [a[sql_key], b[sql_key]], "figure": growth, "figure_name": "growth",
                "target": f"<= {TARGET_GROWTH}x 50k, <= {TARGET_QUERIES} queries",
                "met": growth <= TARGET_GROWTH and b[page]["queries"] <= TARGET_QUERIES,
                "same_numbers": a["same_numbers_as_raw_sql"] and b["same_numbers_as_raw_sql"],
                "command": command(prefix, small, large, "history", open_packages)})
    if "share" in rows:
        a, b = measured[small, share_open(small)], measured[large, share_open(large)]
        ratio = b["dashboard"]["ms"] / b["dashboard_sql_ms"]
        result["rows"].append({
            "row": "share", "page": "dashboard", "open": [share_open(small), share_open(large)],
            "ms": [a["dashboard"]["ms"], b["dashboard"]["ms"]],
            "queries": [a["dashboard"]["queries"], b["dashboard"]["queries"]],
            "raw_sql_ms": [a["dashboard_sql_ms"], b["dashboard_sql_ms"]], "figure": ratio,
            "figure_name": "x raw SQL", "target": f"<= {TARGET_RAW}x raw SQL, <= {TARGET_QUERIES} queries",
            "met": ratio <= TARGET_RAW and b["dashboard"]["queries"] <= TARGET_QUERIES,
            "same_numbers": a["same_numbers_as_raw_sql"] and b["same_numbers_as_raw_sql"],
            "command": command(prefix, small, large, "share", open_packages)})
    for row in result["rows"]:
        row["met"] = row["met"] and row["same_numbers"]
    if not quiet:
        print_table(result)
        if explain_plans:
            for dataset in measured.values():
                for plan in dataset.get("explain", []):
                    print(f"\n-- {dataset['database']}\n{plan}")
    return result


def print_table(r: dict) -> None:
    note = " (provisional: the targets are defined at 1M)" if r["provisional"] else ""
    t = Table(f"P3 Package Location Movements, {r['small']:,} vs {r['large']:,} packages, "
              f"median of {r['rounds']} rounds x {r['repeat']}{note}",
              ["row", "page", "open packages", f"ms @ {r['small']:,}", f"ms @ {r['large']:,}", "queries",
               "raw SQL ms (large)", "x raw SQL", "growth", "target", "verdict"])
    labels = {"dashboard": "/packages/movements/", "location_view": "/locations/<busiest>/ (17 states)"}
    for row in r["rows"]:
        a, b = row["ms"]
        t.add("open work constant" if row["row"] == "history" else "4 % open", labels[row["page"]],
              " / ".join(f"{n:,}" for n in row["open"]), a, b, " / ".join(str(q) for q in row["queries"]),
              row["raw_sql_ms"][1], f"{b / row['raw_sql_ms'][1]:.2f}x", f"{b / a:.2f}x", row["target"],
              verdict(row["met"]) + ("" if row["same_numbers"] else " (numbers differ from raw SQL)"))
    t.print()
    for dataset in r["datasets"]:
        print(f"  {dataset['database']}: {dataset['packages']:,} packages, "
              f"{dataset['open_packages']:,} open; "
              f"busiest location {dataset['busiest_location_packages']:,} packages")
    print("  query counts include the session and user lookups; re-run a row with:")
    for row in r["rows"]:
        if row["page"] == "dashboard":
            print(f"    {row['command']}")


def main(argv=None) -> None:
    parser = base_parser("P3: dashboard and location view server time at two sizes.", db=DEFAULT_PREFIX)
    parser.set_defaults(repeat=5)
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--large", type=int, default=200_000, help="1000000 for the issue's figures (opt-in)")
    parser.add_argument("--open", type=int, default=OPEN_PACKAGES,
                        help="open packages at both sizes in the history row")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="history (open work constant), share (4 %% open), or both (default)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times every dataset is measured in turn (medians over all)")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN (ANALYZE, BUFFERS) of the dashboard's queries at the large size")
    for action in parser._actions:
        if action.dest == "db":
            action.help = (f"prefix of the databases: <prefix>_<size>[_open<k>] (default {DEFAULT_PREFIX})")
    args = parser.parse_args(argv)
    rows = tuple(r.strip() for r in args.rows.split(",") if r.strip())
    if not rows or set(rows) - set(ROWS):
        parser.error(f"--rows: one or more of {', '.join(ROWS)}")
    first = (args.small, args.open if "history" in rows else share_open(args.small))
    bootstrap(dataset_db(args.db, *first))
    require_postgresql()
    ensure_static()
    result = run(prefix=args.db, small=args.small, large=args.large, rows=rows, open_packages=args.open,
                 repeat=args.repeat, rounds=args.rounds, explain_plans=args.explain)
    result["argv"] = sys.argv[1:] if argv is None else list(argv)
    print(f"  results: {save_results(f'p3_dashboard_{args.small}_{args.large}', result, args.json)}")


if __name__ == "__main__":
    main()
