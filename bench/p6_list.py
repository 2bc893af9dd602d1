"""P6: the package list API, ``GET /api/v1/packages/``: page 1 against a page 100,000 rows
deep, and each against the raw SQL of the same page.

    .venv/bin/python -m bench.p6_list                         # 200,000 packages (oms_bench_200000)
    .venv/bin/python -m bench.p6_list --packages 1000000      # opt-in, P3's 1M database (oms_bench_1000000)

``--db NAME`` chooses the database (default ``oms_bench_<packages>``, the database P3 uses for
that size); it is created, marked and generated when missing, refused when unmarked.

The list is cursor-paginated by id (``oms.api.pagination.IdCursorPagination``, 50 rows); the
deep page is requested with the cursor the API itself would hand out after row 100,000
(``?cursor=`` base64 of ``p=<id of row 100,000>``), and the benchmark checks that its first
row is row 100,001. Requests go through Django's test client in this process with a
read-write token for all locations, so the figure is server time without the network;
page 1 and the deep page are interleaved ``--repeat`` times and medians compared.

Target (issue 8): the deep page within 1.5x of page 1.
"""

from __future__ import annotations

import base64
import json
import time

from bench.datagen import DatasetSpec, ensure_dataset
from bench.harness import (
    Table,
    base_parser,
    bootstrap,
    count_queries,
    median,
    raw_connection,
    require_postgresql,
    rerun_command,
    save_results,
    verdict,
)
from bench.p3_dashboard import DEFAULT_PREFIX, OPEN_PACKAGES, dataset_db, web_client
from bench.server import api_token

TARGET_RATIO = 1.5
DEPTH = 100_000
PAGE_SIZE = 50

PAGE_SQL = """
    SELECT p.*, b.slug, b.name, l.code, l.name
    FROM packages_package p JOIN packages_brand b ON b.id = p.brand_id
    JOIN locations_stocklocation l ON l.id = p.location_id
    WHERE p.id > %s ORDER BY p.id LIMIT %s
"""
ITEMS_SQL = """
    SELECT i.*, k.code FROM packages_packageitem i JOIN locations_sku k ON k.id = i.sku_id
    WHERE i.package_id = ANY(%s) ORDER BY i.id
"""


def cursor_after(position_id: int) -> str:
    """The cursor DRF's CursorPagination hands out for the page after the row ``position_id``."""
    return base64.b64encode(f"p={position_id}".encode("ascii")).decode("ascii")


def _raw_page(cur, after: int) -> None:
    cur.execute(PAGE_SQL, [after, PAGE_SIZE + 1])
    ids = [row[0] for row in cur.fetchall()][:PAGE_SIZE]
    cur.execute(ITEMS_SQL, [ids])
    cur.fetchall()


def run(*, depth: int = DEPTH, repeat: int = 15, quiet: bool = False) -> dict:
    from packages.models import Package

    total = Package.objects.count()
    if total < depth + PAGE_SIZE:
        raise SystemExit(f"P6 needs at least {depth + PAGE_SIZE:,} packages; the database has {total:,}")
    ids = list(Package.objects.order_by("id").values_list("id", flat=True)[depth - 1:depth + 1])
    position, first_deep = ids[0], ids[1]
    client = web_client(HTTP_AUTHORIZATION=f"Token {api_token()}")
    paths = {"page 1": "/api/v1/packages/",
             f"page at row {depth + 1:,}": f"/api/v1/packages/?cursor={cursor_after(position)}"}
    first_ids = {}
    for name, path in paths.items():  # warm up, and check the deep page starts where it should
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.content[:200]!r}")
        first_ids[name] = json.loads(response.content)["results"][0]
    expected = Package.objects.get(pk=first_deep).number
    deep_name = list(paths)[1]
    if first_ids[deep_name].get("number") != expected:
        raise RuntimeError(f"deep page starts at {first_ids[deep_name].get('number')}, expected {expected}")
    samples = {name: [] for name in paths}
    for _ in range(repeat):
        for name, path in paths.items():
            started = time.perf_counter()
            client.get(path)
            samples[name].append(time.perf_counter() - started)
    queries = {}
    for name, path in paths.items():
        with count_queries() as captured:
            client.get(path)
        queries[name] = len(captured)
    raw = {name: [] for name in paths}
    conn = raw_connection(autocommit=True)
    try:
        with conn.cursor() as cur:
            for after in (0, position):
                _raw_page(cur, after)
            for _ in range(repeat):
                for name, after in zip(paths, (0, position), strict=True):
                    started = time.perf_counter()
                    _raw_page(cur, after)
                    raw[name].append(time.perf_counter() - started)
    finally:
        conn.close()
    pages = {name: {"ms": median(samples[name]) * 1000, "queries": queries[name],
                    "raw_sql_ms": median(raw[name]) * 1000} for name in paths}
    page1, deep = pages["page 1"], pages[deep_name]
    result = {"packages": total, "depth": depth, "repeat": repeat, "pages": pages,
              "ratio": deep["ms"] / page1["ms"]}
    result["target_met"] = result["ratio"] <= TARGET_RATIO
    if not quiet:
        print_table(result)
    return result


def print_table(r: dict) -> None:
    t = Table(f"P6 GET /api/v1/packages/ on {r['packages']:,} packages (50 rows, cursor by id), "
              f"median of {r['repeat']}", ["page", "server ms", "queries", "raw SQL ms", "x raw SQL",
                                           "deep / page 1", "target", "verdict"])
    (n1, p1), (n2, p2) = r["pages"].items()
    t.add(n1, p1["ms"], p1["queries"], p1["raw_sql_ms"], f"{p1['ms'] / p1['raw_sql_ms']:.0f}x", "", "", "")
    t.add(n2, p2["ms"], p2["queries"], p2["raw_sql_ms"], f"{p2['ms'] / p2['raw_sql_ms']:.0f}x",
          f"{r['ratio']:.2f}x", f"<= {TARGET_RATIO}x", verdict(r["target_met"]))
    t.print()


def main(argv=None) -> None:
    parser = base_parser("P6: package list API, page 1 vs a deep page.", db="")
    parser.add_argument("--packages", type=int, default=200_000, help="dataset size")
    parser.set_defaults(db=None)
    for action in parser._actions:
        if action.dest == "db":
            action.help = f"database (default {DEFAULT_PREFIX}_<packages>, P3's database of that size)"
    parser.add_argument("--depth", type=int, default=DEPTH)
    parser.set_defaults(repeat=15)
    args = parser.parse_args(argv)
    args.db = args.db or dataset_db(DEFAULT_PREFIX, args.packages)
    bootstrap(args.db)
    require_postgresql()
    ensure_dataset(DatasetSpec(packages=args.packages, open_packages=OPEN_PACKAGES))
    result = run(depth=args.depth, repeat=args.repeat)
    print(f"  re-run with: {rerun_command('bench.p6_list', args)}")
    print(f"  results: {save_results(f'p6_list_{args.packages}', result, args.json)}")


if __name__ == "__main__":
    main()
