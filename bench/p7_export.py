"""P7: CSV export of the package list (``GET /packages/export.csv``) at 10,000, 100,000 and
1,000,000 rows: the server's peak memory must not grow with the rows, and the time is
compared with PostgreSQL's own ``COPY (SELECT …) TO STDOUT WITH CSV`` of the same rows.

    .venv/bin/python -m bench.p7_export                                # 10k, 100k (oms_bench_<size>)
    .venv/bin/python -m bench.p7_export --sizes 10000,100000,1000000   # opt-in 1M (datagen: minutes)

``--db PREFIX`` (default ``oms_bench``): each size is measured on ``<prefix>_<size>``, the
database P3 and P6 use for that size; it is created, marked and generated when missing,
refused when unmarked. Each export is the whole list (a staff user, no filter, the list's
default order: longest in state first) through Django's test client in this process, with
the streamed body consumed chunk by chunk and dropped, so the figure is server time without
the network.

Memory, per size: the peak of Python allocations during one export (``tracemalloc``, its own
pass: tracing slows Python down) and the growth of the process's peak RSS over its RSS
before the export (``VmHWM`` after resetting it through ``/proc/self/clear_refs``; None where
the kernel does not allow it), measured on the first timed export. Flat means the peak at
the largest size is within ``TARGET_GROWTH`` of the smallest's.

Time: the export and the ``COPY`` of the same columns, joins and order are interleaved
``--repeat`` times; medians compared. Both outputs are checked to hold the same number of
rows with the same first and last package number.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

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
    use_database,
    verdict,
)
from bench.p3_dashboard import DEFAULT_PREFIX, OPEN_PACKAGES, dataset_db, staff_user, web_client

EXPORT_PATH = "/packages/export.csv"
SIZES = (10_000, 100_000)
ISSUE_SIZES = (10_000, 100_000, 1_000_000)
TARGET_GROWTH = 1.5
MIB = 1024 * 1024


def copy_sql() -> str:
    """The raw-SQL baseline: the export's columns, joins and order as one ``COPY``."""
    from packages.models import Status
    from packages.selectors import BEFORE_HANDOVER_STATES

    states = ", ".join(f"({code}, '{Status(code).label}', '{Status(code).slug}')" for code in Status.values)
    before = ", ".join(str(int(code)) for code in sorted(BEFORE_HANDOVER_STATES))
    return f"""COPY (
        SELECT p.number, p.order_number, s.label, s.slug, l.code, l.name, b.name, p.ship_by,
               CASE WHEN p.ship_by < now() AND p.status IN ({before}) THEN 'yes' ELSE 'no' END,
               p.blocked_at, p.status_changed_at, p.created_at, p.carrier, p.tracking_number,
               coalesce(u.units, 0)
        FROM packages_package p
        JOIN locations_stocklocation l ON l.id = p.location_id
        JOIN packages_brand b ON b.id = p.brand_id
        JOIN (VALUES {states}) AS s (code, label, slug) ON s.code = p.status
        LEFT JOIN (SELECT package_id, sum(quantity) AS units FROM packages_packageitem
                   GROUP BY package_id) u ON u.package_id = p.id
        ORDER BY p.status_changed_at, p.id
    ) TO STDOUT WITH (FORMAT csv, HEADER)"""


def _consume(chunks) -> dict:
    """Read ``chunks`` (bytes) and drop them: bytes, rows (lines less the header), first and
    last package number."""
    size = lines = 0
    head = tail = b""
    for chunk in chunks:
        if len(head) < 4096:
            head += chunk[:4096]
        tail = (tail + chunk)[-4096:]
        size += len(chunk)
        lines += chunk.count(b"\n")
    head_lines = head.decode("utf-8-sig", errors="replace").splitlines()
    tail_lines = tail.decode("utf-8", errors="replace").splitlines()
    first = head_lines[1].split(",", 1)[0] if len(head_lines) > 1 else ""
    last = tail_lines[-1].split(",", 1)[0] if lines > 1 else ""
    return {"bytes": size, "rows": lines - 1, "first": first, "last": last}


def export_once(client) -> dict:
    response = client.get(EXPORT_PATH)
    if response.status_code != 200 or not response.streaming:
        raise RuntimeError(f"GET {EXPORT_PATH}: {response.status_code}, streaming={response.streaming}")
    try:
        return _consume(response.streaming_content)
    finally:
        response.close()


def copy_once(conn, sql: str) -> dict:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        return _consume(bytes(block) for block in copy)


def _rss_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (``VmHWM``); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_current(*, repeat: int = 3) -> dict:
    """Export the current database's package list ``repeat`` times against its ``COPY``,
    then once under ``tracemalloc``; return the figures."""
    from packages.models import Package

    client = web_client(staff_user())
    sql = copy_sql()
    packages = Package.objects.count()
    export_once(client)  # warm up: templates, the session, the plan cache
    app, raw = [], []
    rss_growth = None
    conn = raw_connection(autocommit=True)
    try:
        for i in range(repeat):
            gc.collect()
            resettable = i == 0 and _reset_peak_rss()
            before = _rss_bytes("VmRSS")
            started = time.perf_counter()
            app_out = export_once(client)
            app.append(time.perf_counter() - started)
            if resettable and before is not None:
                rss_growth = (_rss_bytes("VmHWM") - before) / MIB
            started = time.perf_counter()
            raw_out = copy_once(conn, sql)
            raw.append(time.perf_counter() - started)
    finally:
        conn.close()
    gc.collect()
    with count_queries() as queries:
        tracemalloc.start()
        export_once(client)
        traced_peak = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    same = bool(app_out["first"]) and (app_out["rows"], app_out["first"], app_out["last"]) == (
        raw_out["rows"], raw_out["first"], raw_out["last"])
    return {
        "packages": packages, "rows": app_out["rows"], "bytes": app_out["bytes"],
        "copy_bytes": raw_out["bytes"],
        "app_seconds": app, "copy_seconds": raw, "app_s": median(app), "copy_s": median(raw),
        "ratio": median(app) / median(raw), "rows_per_second": app_out["rows"] / median(app),
        "traced_peak_mib": traced_peak, "rss_peak_growth_mib": rss_growth, "queries": len(queries),
        "same_rows_as_copy": same,
    }


def summarise(measured: list[dict], *, repeat: int) -> dict:
    """Return the result of the sizes ``measured`` (smallest first): memory growth from the
    smallest to the largest and the time ratio against ``COPY`` at the largest."""
    small, large = measured[0], measured[-1]
    growth = large["traced_peak_mib"] / small["traced_peak_mib"]
    same = all(m["same_rows_as_copy"] for m in measured)
    return {"repeat": repeat, "sizes": measured, "memory_growth": growth, "target_growth": TARGET_GROWTH,
            "ratio_at_largest": large["ratio"], "same_rows_as_copy": same,
            "queries_constant": len({m["queries"] for m in measured}) == 1,
            "target_met": growth <= TARGET_GROWTH and same}


def run(*, sizes: tuple[int, ...] = SIZES, prefix: str | None = DEFAULT_PREFIX, repeat: int = 3,
        quiet: bool = False) -> dict:
    """Measure each of ``sizes`` on ``<prefix>_<size>`` (generated if needed); with ``prefix``
    None, measure the current database once as it is (the smoke test)."""
    measured = []
    for size in sizes if prefix is not None else (None,):
        if prefix is not None:
            use_database(dataset_db(prefix, size))
            ensure_dataset(DatasetSpec(packages=size, open_packages=OPEN_PACKAGES))
        measured.append(measure_current(repeat=repeat))
    result = summarise(measured, repeat=repeat)
    if not quiet:
        print_table(result)
    return result


def _mib(x) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def print_table(r: dict) -> None:
    t = Table(f"P7 GET {EXPORT_PATH} (whole list, staff), median of {r['repeat']}",
              ["rows", "MB sent", "app s", "rows/s", "COPY s", "x COPY", "peak traced MiB",
               "peak RSS growth MiB", "queries", "same rows"])
    for m in r["sizes"]:
        t.add(m["rows"], m["bytes"] / 1e6, m["app_s"], m["rows_per_second"], m["copy_s"],
              f"{m['ratio']:.1f}x", _mib(m["traced_peak_mib"]), _mib(m["rss_peak_growth_mib"]), m["queries"],
              "yes" if m["same_rows_as_copy"] else "NO")
    t.print()
    print(f"  memory growth smallest -> largest: {r['memory_growth']:.2f}x (target <= {TARGET_GROWTH}x): "
          f"{verdict(r['target_met'])}")


def main(argv=None) -> None:
    parser = base_parser("P7: CSV export of the package list, memory and time against COPY.",
                         db=DEFAULT_PREFIX)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="comma-separated package counts, smallest first")
    args = parser.parse_args(argv)
    sizes = tuple(sorted(int(s) for s in args.sizes.split(",") if s.strip()))
    bootstrap(dataset_db(args.db, sizes[0]))
    require_postgresql()
    result = run(sizes=sizes, prefix=args.db, repeat=args.repeat)
    print(f"  re-run with: {rerun_command('bench.p7_export', args)}")
    print(f"  results: {save_results('p7_export', result, args.json)}")


if __name__ == "__main__":
    main()
