"""P1: single-package actions over HTTP, and P2: bulk actions, against the raw-SQL baseline.

    .venv/bin/python -m bench.p1_actions                       # P1: 8 clients, ship, 3 runs
    .venv/bin/python -m bench.p1_actions --bulk                # P2: 500 packages per request
    .venv/bin/python -m bench.p1_actions --clients 16 --workers 6

A real server: gunicorn (``--workers`` processes of ``--threads`` threads, gthread, keep-alive)
on the database ``oms_bench`` (base dataset generated if missing). P1: ``--clients`` threads,
each with one keep-alive connection, POST ``/api/v1/packages/{number}/actions/ship/`` on
distinct packages in Packaging Completed (token auth, JSON), and the figure is requests/s
from the first request to the last response. P2: the same clients POST
``/api/v1/packages/actions/ship/`` with 500 packages per request; the figure is packages/s.

Baseline (``bench.actions.raw_ship``): the same row changes per package (lock, update, log
insert, outbox insert, commit), with as many connections as there are clients, in this
process. HTTP and baseline runs are interleaved ``--repeat`` times on fresh packages; medians
are compared. Targets (issue 8): P1 >= 25 % of the baseline, P2 >= 60 %.

Framework ceiling (P1 only, on unless ``--no-ceiling``): a second gunicorn, same workers x
threads, same clients, requests and body, with the bench-only settings
``bench.ceiling_settings``, serving ``POST /bench/ceiling/{number}/ship/``: a plain Django
view that runs the baseline's statements on ``django.db.connection`` in one transaction (no
DRF, no ORM, no authentication; ``bench.ceiling_urls``). Its runs are interleaved with the
others on fresh packages, checked shipped like them. The row shows its share of the
baseline, and the application's share of it (app requests/s / ceiling requests/s): what a
Django view can reach here at best, measured rather than argued.
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack

from bench import actions
from bench.datagen import DatasetSpec, ensure_dataset
from bench.harness import (
    RESULTS_DIR,
    Table,
    base_parser,
    bootstrap,
    median,
    require_postgresql,
    save_results,
    verdict,
)
from bench.server import api_token, gunicorn_server, pyspy_record, run_clients, summarise_profile

P1_TARGET = 0.25
P2_TARGET = 0.60
BULK_SIZE = 500
CEILING_SETTINGS = "bench.ceiling_settings"
CEILING_PATH = "/bench/ceiling/{number}/ship/"


def _ship_body(number: str) -> dict:
    return {"carrier": actions.CARRIER, "tracking_number": f"TRK-{number}"}


def _ok(status: int, body: bytes) -> bool:
    return status == 200


def _bulk_ok(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    summary = json.loads(body).get("summary", {})
    return summary.get("done", 0) > 0 and not (summary.get("failed") or summary.get("not_found"))


def _requests(numbers: list[str], bulk: bool, bulk_size: int, *,
              ceiling: bool = False) -> list[tuple[str, bytes]]:
    """``(path, JSON body)`` of the ship requests for ``numbers`` (``ceiling``: to the
    framework-ceiling view, same body)."""
    if ceiling:
        return [(CEILING_PATH.format(number=n), json.dumps(_ship_body(n)).encode()) for n in numbers]
    if bulk:
        return [("/api/v1/packages/actions/ship/", json.dumps(
            {"packages": [{"number": n, **_ship_body(n)} for n in numbers[i:i + bulk_size]]}).encode())
            for i in range(0, len(numbers), bulk_size)]
    return [(f"/api/v1/packages/{n}/actions/ship/", json.dumps(_ship_body(n)).encode()) for n in numbers]


def run(*, bulk: bool = False, clients: int | None = None, per_client: int | None = None,
        workers: int = 4, threads: int = 2, repeat: int = 3, bulk_size: int = BULK_SIZE,
        quiet: bool = False, profile: bool = False, server: tuple | None = None,
        ceiling: bool = False, ceiling_server: tuple | None = None) -> dict:
    """Measure HTTP vs raw SQL ``repeat`` times; return the results (see the module doc).

    ``server``: ``(host, port, pid)`` of a running ``gunicorn_server`` to reuse (else one is
    started for this call with ``workers`` x ``threads``). ``ceiling`` (P1 only): also run the
    framework-ceiling view, on ``ceiling_server`` (a running ``gunicorn_server`` with
    ``settings=CEILING_SETTINGS``) or on one started likewise. Raises RuntimeError when a run
    does not ship every package it was given."""
    if ceiling and bulk:
        raise ValueError("the framework ceiling is a P1 row; it has no bulk variant")
    clients = clients or (2 if bulk else 8)
    per_client = per_client or (2 if bulk else 60)  # requests per client
    per_request = bulk_size if bulk else 1
    count = clients * per_client * per_request
    actions.cleanup()
    token = api_token()
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    http_runs, raw_runs, ceiling_runs = [], [], []
    profile_path = RESULTS_DIR / f"{'p2' if bulk else 'p1'}-server.pyspy.txt"
    with ExitStack() as stack:
        host, port, pid = server or stack.enter_context(gunicorn_server(workers=workers, threads=threads))
        warm_jobs = [[("GET", "/api/v1/brands/", None)] * 5] * max(clients, workers * threads)
        warm = run_clients(host, port, warm_jobs, headers=headers, check=_ok)
        if warm.failures:
            raise RuntimeError(f"warm-up failed: {warm.failures[:3]}")
        if ceiling:
            c_host, c_port, _ = ceiling_server or stack.enter_context(gunicorn_server(
                workers=workers, threads=threads, settings=CEILING_SETTINGS,
                ready_path=CEILING_PATH.format(number="-")))  # GET: 405, it answers
            # warm every worker thread's database connection with real ships (not counted)
            warmers = max(clients, workers * threads)
            warm_requests = [("POST", path, body) for path, body in _requests(
                actions.ship_pool(5 * warmers, "p1cw"), False, 1, ceiling=True)]
            warm = run_clients(c_host, c_port, [warm_requests[i::warmers] for i in range(warmers)],
                               headers=headers, check=_ok)
            if warm.failures:
                raise RuntimeError(f"ceiling warm-up failed: {warm.failures[:3]}")
        for r in range(repeat):
            numbers = actions.ship_pool(count, f"{'p2' if bulk else 'p1'}h{r}")
            requests = [("POST", path, body) for path, body in _requests(numbers, bulk, bulk_size)]
            jobs = [requests[i::clients] for i in range(clients)]
            run_ = run_clients(host, port, jobs, headers=headers, check=_bulk_ok if bulk else _ok)
            shipped = actions.shipped_count(numbers)
            if run_.failures or shipped != count:
                raise RuntimeError(f"HTTP run shipped {shipped}/{count}: {run_.failures[:3]}")
            http_runs.append({"seconds": run_.seconds, "requests": run_.requests,
                              "p50_ms": run_.percentile(0.5) * 1000, "p95_ms": run_.percentile(0.95) * 1000})
            if ceiling:
                c_numbers = actions.ship_pool(count, f"p1c{r}")
                c_requests = [("POST", p, b) for p, b in _requests(c_numbers, False, 1, ceiling=True)]
                c_run = run_clients(c_host, c_port, [c_requests[i::clients] for i in range(clients)],
                                    headers=headers, check=_ok)
                shipped = actions.shipped_count(c_numbers)
                if c_run.failures or shipped != count:
                    raise RuntimeError(f"ceiling run shipped {shipped}/{count}: {c_run.failures[:3]}")
                ceiling_runs.append({"seconds": c_run.seconds, "requests": c_run.requests,
                                     "p50_ms": c_run.percentile(0.5) * 1000,
                                     "p95_ms": c_run.percentile(0.95) * 1000})
            raw_numbers = actions.ship_pool(count, f"{'p2' if bulk else 'p1'}s{r}")
            seconds, done = actions.raw_ship(raw_numbers, threads=clients)
            if done != count:
                raise RuntimeError(f"raw run shipped {done}/{count}")
            raw_runs.append({"seconds": seconds})
        if profile:  # one more HTTP run under py-spy, not counted (sampling slows the server)
            numbers = actions.ship_pool(count, f"{'p2' if bulk else 'p1'}prof")
            jobs = [[("POST", path, body) for path, body in _requests(numbers, bulk, bulk_size)][i::clients]
                    for i in range(clients)]
            with pyspy_record(pid, profile_path):
                run_clients(host, port, jobs, headers=headers, check=_bulk_ok if bulk else _ok)
    actions.cleanup()
    http_rate = count / median(r["seconds"] for r in http_runs)
    raw_rate = count / median(r["seconds"] for r in raw_runs)
    target = P2_TARGET if bulk else P1_TARGET
    result = {
        "benchmark": "P2" if bulk else "P1", "clients": clients, "workers": workers, "threads": threads,
        "packages_per_run": count, "packages_per_request": per_request, "repeat": repeat,
        "http_runs": http_runs, "raw_runs": raw_runs, "http_packages_per_second": http_rate,
        "raw_packages_per_second": raw_rate, "ratio": http_rate / raw_rate, "target": target,
    }
    result["target_met"] = result["ratio"] >= target
    if ceiling:
        ceiling_rate = count / median(r["seconds"] for r in ceiling_runs)
        result.update({"ceiling_runs": ceiling_runs, "ceiling_packages_per_second": ceiling_rate,
                       "ceiling_vs_raw": ceiling_rate / raw_rate,
                       "http_vs_ceiling": http_rate / ceiling_rate})
    if profile and profile_path.exists():
        result["profile"] = [{"share": a, "db_share": b, "frame": c}
                             for a, b, c in summarise_profile(profile_path)]
    if not quiet:
        print_table(result)
        for row in result.get("profile", []):
            print(f"  {row['share']:6.1%} of server samples ({row['db_share']:5.1%} waiting on PostgreSQL)  "
                  f"{row['frame']}")
    return result


def print_table(r: dict) -> None:
    bulk = r["benchmark"] == "P2"
    unit = "packages/s" if bulk else "requests/s"
    title = (f"{r['benchmark']} ship over HTTP: gunicorn {r['workers']}x{r['threads']} (gthread), "
             f"{r['clients']} keep-alive clients, {r['packages_per_run']:,} packages "
             f"({r['packages_per_request']} per request), median of {r['repeat']}")
    t = Table(title, ["what", unit, "p50 ms", "p95 ms", "vs raw SQL", "target", "verdict"])
    path = "…/actions/ship/ (bulk)" if bulk else "…/{number}/actions/ship/"
    t.add(f"POST {path}", r["http_packages_per_second"],
          median(x["p50_ms"] for x in r["http_runs"]), median(x["p95_ms"] for x in r["http_runs"]),
          f"{r['ratio']:.0%}", f">= {r['target']:.0%}", verdict(r["target_met"]))
    if "ceiling_runs" in r:
        t.add("ceiling: plain Django view, baseline SQL", r["ceiling_packages_per_second"],
              median(x["p50_ms"] for x in r["ceiling_runs"]), median(x["p95_ms"] for x in r["ceiling_runs"]),
              f"{r['ceiling_vs_raw']:.0%}", "", "")
    t.add(f"raw SQL, {r['clients']} connections", r["raw_packages_per_second"], "", "", "100%", "", "")
    t.print()
    if "ceiling_runs" in r:
        print(f"  application / framework ceiling: {r['http_vs_ceiling']:.0%} "
              f"(ceiling = same gunicorn {r['workers']}x{r['threads']} and clients, POST "
              f"{CEILING_PATH}: Django + the baseline's SQL on django.db.connection, no DRF/ORM/auth)")


def main(argv=None) -> None:
    parser = base_parser("P1/P2: ship over HTTP (gunicorn) vs raw SQL.", db="oms_bench")
    parser.add_argument("--bulk", action="store_true",
                        help="P2: bulk endpoint, --bulk-size packages per request")
    parser.add_argument("--bulk-size", type=int, default=BULK_SIZE)
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (P1 8, P2 2)")
    parser.add_argument("--requests", type=int, default=None, help="requests per client (P1 60, P2 2)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy in one extra HTTP run; print where time goes")
    parser.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True,
                        help="P1: also measure the framework ceiling (plain Django view, baseline SQL); "
                             "on by default, --no-ceiling to skip")
    parser.add_argument("--base", type=int, default=100_000, help="base dataset size if it must be generated")
    args = parser.parse_args(argv)
    bootstrap(args.db)
    require_postgresql()
    ensure_dataset(DatasetSpec(packages=args.base))
    result = run(bulk=args.bulk, clients=args.clients, per_client=args.requests, workers=args.workers,
                 threads=args.threads, repeat=args.repeat, bulk_size=args.bulk_size, profile=args.profile,
                 ceiling=args.ceiling and not args.bulk)
    print(f"  results: {save_results('p2_bulk' if args.bulk else 'p1_actions', result, args.json)}")


if __name__ == "__main__":
    main()
