"""P3: Package Location Movements: server time and query count of the dashboard and of the
17-state location view, at two dataset sizes with the same number of open packages.

    .venv/bin/python -m bench.p3_dashboard                        # 50,000 vs 200,000 packages
    .venv/bin/python -m bench.p3_dashboard --large 1000000        # the issue's 50k vs 1M (opt-in)

Each size lives in its own database ``oms_bench_<size>`` (generated on first use, kept:
``--open`` open packages, default 2,000, whatever the size). Pages are requested in this
process through Django's test client as a logged-in staff user (every location visible),
which times the whole server side (middleware, session, view, selectors, template) without
the network. Queries are counted with ``CaptureQueriesContext``; the session and user
lookups every logged-in page makes are included in the count. The raw-SQL column is the
one aggregate a hand-written page would run for the same numbers.

Targets (issue 8): at 1M, server time within 1.5x of the 50k time, and at most 5 queries.
A run whose large size is below 1M prints a provisional verdict.
"""

from __future__ import annotations

import time

from django.db.models import Count

from bench.datagen import DatasetSpec, ensure_dataset
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
TARGET_QUERIES = 5
OPEN_PACKAGES = 2000
ISSUE_LARGE = 1_000_000


def dataset_db(size: int, open_packages: int = OPEN_PACKAGES) -> str:
    return f"oms_bench_{size}" if open_packages == OPEN_PACKAGES else f"oms_bench_{size}_open{open_packages}"


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
    """GET ``path`` ``warmup`` + ``repeat`` times; return median ms, query count and status."""
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
            "queries": len(queries), "sql": [q["sql"][:160] for q in queries.captured_queries],
            "status": response.status_code}


def time_sql(sql: str, params, *, repeat: int) -> float:
    """Median ms of ``sql`` on a fresh raw connection (after one warm-up)."""
    conn = raw_connection(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            cur.fetchall()
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                cur.execute(sql, params)
                cur.fetchall()
                samples.append(time.perf_counter() - started)
    finally:
        conn.close()
    return median(samples) * 1000


DASHBOARD_SQL = """
    SELECT l.id, l.code, l.name,
           count(p.id) FILTER (WHERE p.status = 100) AS waiting,
           count(p.id) FILTER (WHERE p.status = 200) AS preparing,
           count(p.id) FILTER (WHERE p.status = 300) AS waiting_transfer,
           count(p.id) FILTER (WHERE p.status = 400) AS ready,
           count(p.id) AS open_total
    FROM locations_stocklocation l
    LEFT JOIN packages_package p ON p.location_id = l.id AND p.status IN (100, 200, 300, 400)
    WHERE EXISTS (SELECT 1 FROM packages_package x WHERE x.location_id = l.id)
    GROUP BY l.id ORDER BY waiting DESC, open_total DESC, l.code LIMIT 48
"""
LOCATION_SQL = """
    SELECT status, count(*) FROM packages_package WHERE location_id = %s GROUP BY status
"""


def measure_size(size: int, *, open_packages: int, repeat: int) -> dict:
    from locations.models import StockLocation
    from packages.models import Package

    use_database(dataset_db(size, open_packages))
    stats = ensure_dataset(DatasetSpec(packages=size, open_packages=open_packages))
    busiest = Package.objects.values("location_id").annotate(n=Count("pk")).order_by("-n").first()
    location = StockLocation.objects.get(pk=busiest["location_id"])
    client = web_client(staff_user())
    dashboard = time_get(client, "/packages/movements/", repeat=repeat)
    location_view = time_get(client, f"/locations/{location.code}/", repeat=repeat)
    return {
        "size": size, "open_packages": stats.get("open_packages"), "busiest_location": location.code,
        "busiest_location_packages": busiest["n"], "dashboard": dashboard, "location_view": location_view,
        "dashboard_sql_ms": time_sql(DASHBOARD_SQL, [], repeat=repeat),
        "location_sql_ms": time_sql(LOCATION_SQL, [location.pk], repeat=repeat),
    }


def run(*, small: int = 50_000, large: int = 200_000, open_packages: int = OPEN_PACKAGES,
        repeat: int = 7, quiet: bool = False) -> dict:
    results = [measure_size(size, open_packages=open_packages, repeat=repeat) for size in (small, large)]
    a, b = results
    result = {"small": a, "large": b, "repeat": repeat, "provisional": large < ISSUE_LARGE}
    for page in ("dashboard", "location_view"):
        growth = b[page]["ms"] / a[page]["ms"]
        result[f"{page}_growth"] = growth
        result[f"{page}_target_met"] = growth <= TARGET_GROWTH and b[page]["queries"] <= TARGET_QUERIES
    if not quiet:
        print_table(result)
    return result


def print_table(r: dict) -> None:
    a, b = r["small"], r["large"]
    note = " (provisional: the target is defined at 1M)" if r["provisional"] else ""
    t = Table(f"P3 Package Location Movements, {a['open_packages']:,} open packages at both sizes, "
              f"median of {r['repeat']}{note}",
              ["page", f"ms @ {a['size']:,}", f"ms @ {b['size']:,}", "growth", "queries",
               "raw SQL ms (large)", "x raw SQL", "target", "verdict"])
    for page, label, sql_key in (("dashboard", "/packages/movements/ (dashboard)", "dashboard_sql_ms"),
                                 ("location_view", "/locations/<busiest>/ (17 states)", "location_sql_ms")):
        t.add(label, a[page]["ms"], b[page]["ms"], f"{r[f'{page}_growth']:.2f}x",
              f"{a[page]['queries']} / {b[page]['queries']}", b[sql_key],
              f"{b[page]['ms'] / b[sql_key]:.1f}x",
              f"<= {TARGET_GROWTH}x, <= {TARGET_QUERIES} queries", verdict(r[f"{page}_target_met"]))
    t.print()
    print(f"  busiest location: {a['busiest_location_packages']:,} packages @ {a['size']:,}, "
          f"{b['busiest_location_packages']:,} @ {b['size']:,}; "
          "query counts include the session and user lookups")


def main(argv=None) -> None:
    parser = base_parser("P3: dashboard and location view server time at two sizes.", db="oms_bench_50000")
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--large", type=int, default=200_000, help="1000000 for the issue's figure (opt-in)")
    parser.add_argument("--open", type=int, default=OPEN_PACKAGES, help="open packages at both sizes")
    parser.set_defaults(repeat=7)
    args = parser.parse_args(argv)
    bootstrap(dataset_db(args.small, args.open))
    require_postgresql()
    ensure_static()
    result = run(small=args.small, large=args.large, open_packages=args.open, repeat=args.repeat)
    print(f"  results: {save_results(f'p3_dashboard_{args.small}_{args.large}', result, args.json)}")


if __name__ == "__main__":
    main()
