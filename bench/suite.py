"""Run every benchmark in sequence and print one verdict table.

    .venv/bin/python -m bench.suite                         # default sizes (each a few minutes)
    .venv/bin/python -m bench.suite --profile issue         # the issue's sizes (1M, 100k …; long)
    .venv/bin/python -m bench.suite --only P3,P6 --db oms_bench

Each benchmark runs as its own command (``python -m bench.<module> …``, a fresh process:
its Django set-up, database and max RSS are its own) with ``--json`` into
``var/bench/suite/``; the table shows, per row, the figure, its baseline, the ratio, the
target, ``met`` / ``NOT met`` and the command that re-runs the row alone. The whole table is
written to ``var/bench/suite-<profile>.json``. A benchmark that fails is a row ``failed``
(the suite goes on, and exits with status 1 at the end).

Databases (``--db PREFIX``, default ``oms_bench``): P1, P2 and P4 use ``<prefix>`` (the
100k base dataset), P3 ``<prefix>_<size>[_open<k>]``, P5 ``<prefix>_import``, P6 and P7
``<prefix>_<packages>`` (P3's database of that size). Each is created and marked by the
benchmark on first use; an existing unmarked database is refused.

P1 and P2 are being reworked elsewhere: what this module knows of their options and of their
result files is in ``P1_P2`` below and nowhere else.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import BASE_DIR, RESULTS_DIR, Table, verdict

SUITE_DIR = RESULTS_DIR / "suite"
PROFILES = ("default", "issue")


@dataclass
class Row:
    """One line of the verdict table."""

    benchmark: str
    what: str
    figure: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: no verdict (failed run, or a reference row)
    command: str = ""


@dataclass
class Bench:
    """A benchmark as the suite runs it: module, arguments per profile, and how its result
    file becomes rows."""

    name: str
    module: str
    args: Callable[[str, str], list[str]]  # (profile, db prefix) -> arguments
    rows: Callable[[dict], list[Row]]  # result JSON -> rows (command filled in by the suite)
    extra: dict = field(default_factory=dict)


def _pct(x) -> str:
    return f"{x:.0%}" if isinstance(x, (int, float)) else "n/a"


def _x(x) -> str:
    return f"{x:.2f}x" if isinstance(x, (int, float)) else "n/a"


def _n(x, unit: str = "") -> str:
    if not isinstance(x, (int, float)):
        return "n/a"
    return (f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}") + unit


# --- P1 and P2: the one place that knows their options and result keys ---------------------

def _p1_args(profile: str, db: str) -> list[str]:
    return ["--db", db]  # 8 clients x 60 production-shaped ships, app / ceiling / pgbench, 3 runs


def _p2_args(profile: str, db: str) -> list[str]:
    return ["--db", db]  # 2 clients x 10 requests x 500 packages, app / pgbench, 3 runs


def _latency(r: dict, row: str) -> str:
    from bench.harness import median

    runs = r.get("runs", {}).get(row) or []
    if not runs:
        return ""
    p50, p95, p99 = (median(x[f"{p}_ms"] for x in runs) for p in ("p50", "p95", "p99"))
    return f" (p50/p95/p99 {p50:.0f}/{p95:.0f}/{p99:.0f} ms)"


def _p1_p2_rows(name: str, unit: str) -> Callable[[dict], list[Row]]:
    def rows(r: dict) -> list[Row]:
        app = _n(r.get("app_packages_per_second")) + f" {unit}" + _latency(r, "app")
        out = [Row(name, "ship over HTTP vs best raw SQL (pgbench)", app,
                   _n(r.get("raw_packages_per_second")), _pct(r.get("app_vs_raw")),
                   f">= {_pct(r.get('raw_target'))} of raw SQL", r.get("raw_target_met"))]
        if "app_vs_ceiling" in r:
            out.append(Row(name, "ship over HTTP vs framework ceiling", app,
                           _n(r.get("ceiling_packages_per_second")) + _latency(r, "ceiling"),
                           _pct(r.get("app_vs_ceiling")), f">= {_pct(r.get('ceiling_target'))} of ceiling",
                           r.get("ceiling_target_met")))
        return out
    return rows


P1_P2 = [
    Bench("P1", "bench.p1_actions", _p1_args, _p1_p2_rows("P1", "requests/s")),
    Bench("P2", "bench.p2_bulk", _p2_args, _p1_p2_rows("P2", "packages/s")),
]


# --- the others ------------------------------------------------------------------------------

def _p3_args(profile: str, db: str) -> list[str]:
    return ["--db", db] + (["--large", "1000000"] if profile == "issue" else [])


def _p3_rows(r: dict) -> list[Row]:
    out = []
    for row in r.get("rows", []):
        page = "dashboard" if row["page"] == "dashboard" else "location view"
        small, large = row["ms"]
        label = (f"{page}, open work constant ({row['open'][1]:,}), {r['small']:,} vs {r['large']:,}"
                 if row["row"] == "history" else
                 f"{page}, 4 % open ({row['open'][1]:,}) @ {r['large']:,}")
        if row["row"] == "history":
            out.append(Row("P3", label, f"{large:.1f} ms", f"{small:.1f} ms @ {r['small']:,}",
                           _x(row["figure"]), row["target"], row["met"], row.get("command", "")))
        else:
            out.append(Row("P3", label, f"{large:.1f} ms", f"{row['raw_sql_ms'][1]:.1f} ms raw SQL",
                           _x(row["figure"]), row["target"], row["met"], row.get("command", "")))
    return out


def _p4_args(profile: str, db: str) -> list[str]:
    return ["--db", db] + (["--packages", "100000", "--repeat", "1"] if profile == "issue" else [])


def _p4_rows(r: dict) -> list[Row]:
    from bench.harness import median

    service, sql = median(r["service_seconds"]), median(r["sql_seconds"])
    same = "" if not r.get("mismatches") else " (outcome differs)"
    return [Row("P4", f"re-check of {r['packages']:,} packages{same}", f"{service:.2f} s",
                f"{sql:.2f} s one statement", _x(r.get("ratio")), "<= 3x set-based SQL", r.get("target_met"))]


def _p5_args(profile: str, db: str) -> list[str]:
    return ["--db", f"{db}_import"] + (["--scale", "25", "--repeat", "1"] if profile == "issue" else [])


def _p5_rows(r: dict) -> list[Row]:
    return [Row("P5", f"Olist import, {r['item_rows']:,} item rows",
                _n(r.get("importer_rows_per_second"), " rows/s"),
                _n(r.get("baseline_rows_per_second"), " rows/s"),
                _pct(r.get("ratio")), ">= 40% of raw SQL", r.get("target_met"))]


def _p6_args(profile: str, db: str) -> list[str]:
    size = 1_000_000 if profile == "issue" else 200_000
    return ["--db", f"{db}_{size}", "--packages", str(size)]


def _p6_rows(r: dict) -> list[Row]:
    (_, first), (deep_name, deep) = list(r["pages"].items())[:2]
    return [Row("P6", f"package list, {deep_name} of {r['packages']:,}", f"{deep['ms']:.1f} ms",
                f"{first['ms']:.1f} ms page 1", _x(r.get("ratio")), "deep <= 1.5x page 1",
                r.get("target_met"))]


def _p7_args(profile: str, db: str) -> list[str]:
    sizes = (10_000, 100_000, 1_000_000) if profile == "issue" else (10_000, 100_000)
    return ["--db", db, "--sizes", ",".join(str(s) for s in sizes)]


def _p7_rows(r: dict) -> list[Row]:
    small, large = r["sizes"][0], r["sizes"][-1]
    same = "" if r.get("same_rows_as_copy") else " (rows differ from COPY)"
    return [
        Row("P7", f"CSV export peak memory, {small['rows']:,} vs {large['rows']:,} rows{same}",
            f"{large['traced_peak_mib']:.1f} MiB", f"{small['traced_peak_mib']:.1f} MiB @ {small['rows']:,}",
            _x(r.get("memory_growth")), f"<= {r['target_growth']}x", r.get("target_met")),
        Row("P7", f"CSV export of {large['rows']:,} rows vs COPY", f"{large['app_s']:.2f} s",
            f"{large['copy_s']:.2f} s COPY … TO STDOUT", _x(large.get("ratio")), "reported", None),
    ]


BENCHMARKS = [
    *P1_P2,
    Bench("P3", "bench.p3_dashboard", _p3_args, _p3_rows),
    Bench("P4", "bench.p4_recheck", _p4_args, _p4_rows),
    Bench("P5", "bench.p5_import", _p5_args, _p5_rows),
    Bench("P6", "bench.p6_list", _p6_args, _p6_rows),
    Bench("P7", "bench.p7_export", _p7_args, _p7_rows),
]


# --- running -----------------------------------------------------------------------------------

def command_line(bench: Bench, profile: str, db: str) -> list[str]:
    return [".venv/bin/python", "-m", bench.module, *bench.args(profile, db)]


def run_one(bench: Bench, profile: str, db: str, *, json_dir: Path = SUITE_DIR) -> tuple[list[Row], dict]:
    """Run one benchmark as its own process; return its rows and a record of the run."""
    argv = command_line(bench, profile, db)
    json_path = json_dir / f"{bench.name.lower()}-{profile}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.unlink(missing_ok=True)
    shown = shlex.join(argv)
    started = time.perf_counter()
    print(f"\n=== {bench.name}: {shown}", flush=True)
    done = subprocess.run([sys.executable, *argv[1:], "--json", str(json_path)], cwd=BASE_DIR)
    record = {"benchmark": bench.name, "command": shown, "exit_status": done.returncode,
              "seconds": round(time.perf_counter() - started, 1), "json": str(json_path)}
    if done.returncode != 0 or not json_path.exists():
        return [Row(bench.name, "failed", "", "", "", "", None, shown)], record
    return rows_from(bench, json.loads(json_path.read_text()), shown), record


def rows_from(bench: Bench, result: dict, shown: str) -> list[Row]:
    """The rows of ``result`` (a benchmark's JSON); a result the suite cannot read is a row
    ``unreadable result`` rather than an error."""
    try:
        rows = bench.rows(result)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return [Row(bench.name, f"unreadable result ({type(exc).__name__}: {exc})", "", "", "", "", None,
                    shown)]
    for row in rows:
        row.command = row.command or shown
    return rows


def render(rows: list[Row], title: str) -> str:
    table = Table(title, ["benchmark", "what", "figure", "baseline", "ratio", "target", "verdict",
                          "re-run with"])
    for row in rows:
        table.add(row.benchmark, row.what, row.figure, row.baseline, row.ratio, row.target,
                  "–" if row.met is None else verdict(bool(row.met)), row.command)
    return table.render()


def run(*, profile: str = "default", db: str = "oms_bench", only: list[str] | None = None,
        runner: Callable = run_one) -> dict:
    """Run the benchmarks (``only`` by name) and return ``{"rows": […], "runs": […]}``."""
    chosen = [b for b in BENCHMARKS if not only or b.name in only]
    rows, runs = [], []
    for bench in chosen:
        bench_rows, record = runner(bench, profile, db)
        rows += bench_rows
        runs.append(record)
    return {"profile": profile, "db": db, "rows": [row.__dict__ for row in rows], "runs": runs,
            "all_met": all(row.met for row in rows if row.met is not None)
            and not any(row.what == "failed" for row in rows)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark and print one verdict table.")
    parser.add_argument("--profile", choices=PROFILES, default="default",
                        help="default: a few minutes per benchmark; issue: the issue's sizes (long)")
    parser.add_argument("--db", default="oms_bench", help="database name prefix (see the module doc)")
    parser.add_argument("--only", default="", help="comma-separated: P1,P2,P3,P4,P5,P6,P7")
    args = parser.parse_args(argv)
    only = [name.strip().upper() for name in args.only.split(",") if name.strip()]
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result = run(profile=args.profile, db=args.db, only=only)
    result["started"] = started
    rows = [Row(**row) for row in result["rows"]]
    print()
    print(render(rows, f"Benchmark suite, profile {args.profile}, started {started}"))
    target = RESULTS_DIR / f"suite-{args.profile}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=str))
    print(f"  results: {target}")
    # exit status 1 only when a benchmark could not run: a target missed is a measurement
    sys.exit(1 if any(row.what == "failed" for row in rows) else 0)


if __name__ == "__main__":
    main()
