"""P1: single-package ship over HTTP, production-shaped; P2: bulk ship. Each against the best
raw-SQL baseline, run by pgbench, and (P1) a framework ceiling.

    .venv/bin/python -m bench.p1_actions                       # P1: 8 clients x 60 ships, 3 runs
    .venv/bin/python -m bench.p1_actions --bulk                # P2: 2 clients x 10 requests x 500
    .venv/bin/python -m bench.p1_actions --rows raw --repeat 1 # re-run one row

**The packages** (``bench.actions.ship_pool``, fresh for every run of every row): Packaging
Completed, brand ``bench-actions`` with a shipping-label gate (ship goes 500 -> 550), at the
``SCOPE_LOCATIONS`` busiest stock locations of the dataset, each with the items of a dataset
package of its location (the generator's Olist mix of lines and units), version 3.

**P1 application row**: gunicorn (``oms.config.wsgi``, ``--workers`` x ``--threads`` gthread,
keep-alive, ``DJANGO_DEBUG=false``, persistent connections, Celery's Redis broker
``--broker``) serves ``POST /api/v1/packages/{number}/actions/ship/`` to ``--clients`` threads,
each with one keep-alive connection, ``--requests`` ships each, every request as an
integrator sends it: ``Authorization: Token`` of a token scoped to those locations, a unique
``Idempotency-Key``, ``If-Match: "3"`` (the package's ETag), a JSON body (carrier, tracking
number). Figure: requests/s from the first request to the last answer.

**P1 raw-SQL row** (``bench.actions.p1_statements``, written to
``var/bench/p1_raw.pgbench``): pgbench, ``-M prepared``, as many connections as clients, per
transaction one package (each client its own range of the pool): the read (by number,
inside the token's scope, items and log as JSON) and one guarded write (update only if the
version is still the If-Match one; then the log row, the outbox event with the service's
payload shape and the idempotency record with the answer in the API's detail shape). Two
statements, no ``BEGIN``/``COMMIT``. The application's statements for the same request are
counted in-process (``bench.p1_inprocess.capture_one_ship``) and reported beside.

**P1 framework ceiling** (``bench.ceiling_urls``): a second gunicorn of the same shape and
broker, a plain Django view running the raw row's two statements (prepared, on Django's
connection) for the same requests and headers.

**P2**: ``POST /api/v1/packages/actions/ship/`` with ``--bulk-size`` (500) packages a request,
same token, no Idempotency-Key; ``--clients`` x ``--requests`` requests a run (>= 20). Raw row
(``bench.actions.p2_statement``, ``var/bench/p2_raw.pgbench``): pgbench, per transaction one
set-based statement shipping 500 pool packages (lock in id order, update, log rows, events).
Figure: packages/s.

After every run the pool is checked: each package shipped exactly once, with one log row,
one event (and, P1, one idempotency record); payload and stored-answer sizes are reported.
Rows run interleaved ``--repeat`` times; medians are compared. Reported per row:
throughput, p50/p95/p99 latency, CPU per request (gunicorn master and workers; every
PostgreSQL process; the client: this process's HTTP threads or pgbench; machine busy time),
and the command that re-runs the row. Targets (the issue): P1 >= 50 % of the ceiling and
>= 15 % of raw SQL; P2 >= 40 % of raw SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from contextlib import ExitStack
from pathlib import Path

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
from bench.pgbench import CpuMeter, postgresql_server_pid, run_pgbench
from bench.server import (
    api_token,
    broker_check,
    broker_purge,
    gunicorn_server,
    pyspy_record,
    run_clients,
    summarise_profile,
)

P1_CEILING_TARGET = 0.50
P1_RAW_TARGET = 0.15
P2_TARGET = 0.40
BULK_SIZE = 500
P2_MIN_REQUESTS = 20
CEILING_SETTINGS = "bench.ceiling_settings"
CEILING_PATH = "/bench/ceiling/{number}/ship/"
DEFAULT_BROKER = os.environ.get("BENCH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
IF_MATCH = 3  # the pool's version
ACTOR = "api:bench-api"


def _ship_body(number: str) -> bytes:
    return json.dumps({"carrier": actions.CARRIER, "tracking_number": f"TRK-{number}"}).encode()


def _ok(status: int, body: bytes) -> bool:
    return status == 200


def _bulk_ok(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    summary = json.loads(body).get("summary", {})
    return summary.get("done", 0) > 0 and not (summary.get("failed") or summary.get("not_found"))


def _single_requests(numbers: list[str], *, ceiling: bool, token_id: int) -> list[tuple]:
    """``(method, path, body, headers)`` of production-shaped ship requests for ``numbers``."""
    requests = []
    for number in numbers:
        headers = {"Idempotency-Key": str(uuid.uuid4()), "If-Match": f'"{IF_MATCH}"'}
        if ceiling:
            headers["X-Bench-Token-Id"] = str(token_id)
            path = CEILING_PATH.format(number=number)
        else:
            path = f"/api/v1/packages/{number}/actions/ship/"
        requests.append(("POST", path, _ship_body(number), headers))
    return requests


def _bulk_requests(numbers: list[str], bulk_size: int) -> list[tuple]:
    return [("POST", "/api/v1/packages/actions/ship/", json.dumps({"packages": [
        {"number": n, "carrier": actions.CARRIER, "tracking_number": f"TRK-{n}"}
        for n in numbers[i:i + bulk_size]]}).encode()) for i in range(0, len(numbers), bulk_size)]


def _striped(requests: list, clients: int) -> list[list]:
    """Client k gets the k-th block of requests (as pgbench's client k gets its range)."""
    per = len(requests) // clients
    return [requests[k * per:(k + 1) * per] for k in range(clients)]


def write_p1_script(path: Path) -> Path:
    """Write the P1 pgbench script: per transaction the read and the guarded write of the
    package number ``<prefix><client_id * per + n>`` (n counts the client's transactions)."""
    statements = actions.p1_statements()
    number = "(:prefix::text || lpad((:idx)::text, 7, '0'))"
    read = actions.pgbench_sql(statements["read"], {"number": number})
    write = actions.pgbench_sql(statements["write"], {
        **{name: f":r_{name}" for name in ("id", "brand", "location", "to_status", "items", "history")},
        "if_match": ":ifmatch", "tracking": "('TRK-' || :r_number::text)",
        "key": "(:keyprefix::text || :r_number::text)",
        "request_body": ("('{\"carrier\":\"' || :carrier::text || '\",\"tracking_number\":\"TRK-' "
                         "|| :r_number::text || '\"}')")})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\\set n :n + 1\n\\set idx :client_id * :per + :n\n"
                    f"{read}\n\\gset r_\n{write};\n")
    return path


def write_p2_script(path: Path) -> Path:
    """Write the P2 pgbench script: per transaction one statement shipping the ``size`` pool
    packages ``<prefix><(client_id * per + n - 1) * size + 1>``…"""
    numbers = ("ARRAY(SELECT :prefix::text || lpad(g::text, 7, '0') "
               "FROM generate_series((:lo)::int, (:lo)::int + (:size)::int - 1) AS g)")
    statement = actions.pgbench_sql(actions.p2_statement(), {"numbers": numbers})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\\set n :n + 1\n\\set lo (:client_id * :per + :n - 1) * :size + 1\n"
                    f"{statement};\n")
    return path


def _figures(seconds: float, requests: int, packages: int, latencies, cpu: CpuMeter) -> dict:
    values = sorted(latencies)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else float("nan")

    return {"seconds": seconds, "requests": requests, "packages": packages,
            "packages_per_second": packages / seconds, "requests_per_second": requests / seconds,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "cpu_ms_per_request": cpu.per_request_ms(requests)}


def run(*, bulk: bool = False, clients: int | None = None, per_client: int | None = None,
        workers: int = 4, threads: int = 2, repeat: int = 3, bulk_size: int = BULK_SIZE,
        quiet: bool = False, profile: bool = False, server: tuple | None = None,
        ceiling: bool = False, ceiling_server: tuple | None = None, broker: str = DEFAULT_BROKER,
        rows: tuple[str, ...] = ("app", "ceiling", "raw"), db: str = "oms_bench") -> dict:
    """Measure the rows (``app``, ``ceiling`` (P1 only, with ``ceiling``), ``raw``)
    ``repeat`` times, interleaved; return the results (see the module doc).

    ``server`` / ``ceiling_server``: ``(host, port, pid)`` of running ``gunicorn_server``s to
    reuse (else started here with ``workers`` x ``threads`` and ``broker``). ``db`` only
    names the database in the printed commands. Raises RuntimeError when a run does not ship
    every package of its pool exactly once."""
    if ceiling and bulk:
        raise ValueError("the framework ceiling is a P1 row; it has no bulk variant")
    rows = tuple(r for r in rows if r != "ceiling" or ceiling)
    clients = clients or (2 if bulk else 8)
    per_client = per_client or (10 if bulk else 60)  # requests per client
    per_request = bulk_size if bulk else 1
    requests_per_run = clients * per_client
    count = requests_per_run * per_request
    name = "P2" if bulk else "P1"
    broker_check(broker)
    actions.cleanup()
    locations = actions.scope_locations()
    key = api_token(locations=[code for _, code in locations])
    from oms.api.models import ApiToken

    token_id = ApiToken.objects.filter(user__username="bench-api", name=actions.TOKEN_NAME).get().pk
    location_ids = [pk for pk, _ in locations]
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    runs: dict[str, list[dict]] = {row: [] for row in rows}
    checks: dict[str, list[dict]] = {row: [] for row in rows}
    commands: dict[str, str] = {}
    script = (write_p2_script(RESULTS_DIR / "p2_raw.pgbench") if bulk
              else write_p1_script(RESULTS_DIR / "p1_raw.pgbench"))
    postgres_pid = postgresql_server_pid()
    profile_path = RESULTS_DIR / f"{name.lower()}-server.pyspy.txt"
    statements = None
    if not bulk:
        from bench.p1_inprocess import capture_one_ship

        statements = capture_one_ship(key=key, location_ids=location_ids)
    with ExitStack() as stack:
        host, port, pid = server or stack.enter_context(
            gunicorn_server(workers=workers, threads=threads, broker=broker))
        # warm every worker thread's database connection with real ships (not counted), as
        # the ceiling's below: prepared statements made, token's last use stamped
        warmers = max(clients, workers * threads)
        if bulk:
            warm_requests = _bulk_requests(actions.ship_pool(10 * warmers, f"{name.lower()}aw",
                                                             location_ids=location_ids), 10)
        else:
            pool = actions.ship_pool(5 * warmers, "p1aw", location_ids=location_ids)
            warm_requests = _single_requests(pool, ceiling=False, token_id=token_id)
        warm = run_clients(host, port, [warm_requests[i::warmers] for i in range(warmers)], headers=headers,
                           check=_bulk_ok if bulk else _ok)
        if warm.failures:
            raise RuntimeError(f"warm-up failed: {warm.failures[:3]}")
        if "ceiling" in rows:
            c_host, c_port, c_pid = ceiling_server or stack.enter_context(gunicorn_server(
                workers=workers, threads=threads, settings=CEILING_SETTINGS, broker=broker,
                ready_path=CEILING_PATH.format(number="-")))  # GET: 405, it answers
            pool = actions.ship_pool(5 * warmers, "p1cw", location_ids=location_ids)
            warm_requests = _single_requests(pool, ceiling=True, token_id=token_id)
            warm = run_clients(c_host, c_port, [warm_requests[i::warmers] for i in range(warmers)],
                               headers=headers, check=_ok)
            if warm.failures:
                raise RuntimeError(f"ceiling warm-up failed: {warm.failures[:3]}")
        for r in range(repeat):
            for row in rows:
                tag = f"{name.lower()}{row[0]}{r}"
                numbers = actions.ship_pool(count, tag, location_ids=location_ids)
                if row == "raw":
                    variables = {"n": 0, "per": per_client, "prefix": f"BA-{tag}-", "token": token_id,
                                 "carrier": actions.CARRIER, "actor": ACTOR}
                    if bulk:
                        variables["size"] = bulk_size
                    else:
                        variables.update({"ifmatch": IF_MATCH, "keyprefix": f"pgb-{tag}-"})
                    with CpuMeter({"server": None, "postgresql": postgres_pid}) as cpu:
                        done = run_pgbench(script, clients=clients, transactions=per_client,
                                           variables=variables)
                    figures = _figures(done.seconds, done.transactions, count, done.latencies, cpu)
                    commands["raw (pgbench)"] = done.command
                else:
                    target = (c_host, c_port, c_pid) if row == "ceiling" else (host, port, pid)
                    requests = (_bulk_requests(numbers, bulk_size) if bulk else
                                _single_requests(numbers, ceiling=row == "ceiling", token_id=token_id))
                    with CpuMeter({"server": target[2], "postgresql": postgres_pid}) as cpu:
                        done = run_clients(target[0], target[1], _striped(requests, clients), headers=headers,
                                           check=_bulk_ok if bulk else _ok)
                    if done.failures:
                        raise RuntimeError(f"{name} {row} run: {done.failures[:3]}")
                    figures = _figures(done.seconds, done.requests, count, done.latencies, cpu)
                check = actions.verify_pool(numbers, idempotency=not bulk)
                if not check["exactly_once"]:
                    raise RuntimeError(f"{name} {row} run did not ship every package exactly once: {check}")
                runs[row].append(figures)
                checks[row].append(check)
        if profile and "app" in rows:  # one more run under py-spy, not counted (sampling slows the server)
            numbers = actions.ship_pool(count, f"{name.lower()}prof", location_ids=location_ids)
            requests = (_bulk_requests(numbers, bulk_size) if bulk
                        else _single_requests(numbers, ceiling=False, token_id=token_id))
            with pyspy_record(pid, profile_path):
                run_clients(host, port, _striped(requests, clients), headers=headers,
                            check=_bulk_ok if bulk else _ok)
    purged = broker_purge(broker)
    actions.cleanup()
    base = (f".venv/bin/python -m bench.p1_actions {'--bulk ' if bulk else ''}--db {db} --clients {clients} "
            f"--requests {per_client} --workers {workers} --threads {threads} --repeat {repeat}"
            f"{f' --bulk-size {bulk_size}' if bulk else ''} --broker {broker}")
    result = {
        "benchmark": name, "clients": clients, "workers": workers, "threads": threads,
        "requests_per_run": requests_per_run, "packages_per_run": count, "packages_per_request": per_request,
        "repeat": repeat, "broker": broker, "broker_messages_purged": purged,
        "token_locations": [code for _, code in locations], "runs": runs, "checks": checks,
        "pgbench_script": str(script), "pgbench_script_text": script.read_text(),
        "commands": {row: f"{base} --rows {row}" for row in rows} | commands,
        "statements": {"raw": 1 if bulk else 2, "app": statements},
    }
    for row in rows:
        result[f"{row}_packages_per_second"] = median(x["packages_per_second"] for x in runs[row])
    if "app" in rows and "raw" in rows:
        result["app_vs_raw"] = result["app_packages_per_second"] / result["raw_packages_per_second"]
        result["raw_target"] = P2_TARGET if bulk else P1_RAW_TARGET
        result["raw_target_met"] = result["app_vs_raw"] >= result["raw_target"]
    if "app" in rows and "ceiling" in rows:
        result["app_vs_ceiling"] = result["app_packages_per_second"] / result["ceiling_packages_per_second"]
        result["ceiling_target"] = P1_CEILING_TARGET
        result["ceiling_target_met"] = result["app_vs_ceiling"] >= P1_CEILING_TARGET
    if bulk and requests_per_run < P2_MIN_REQUESTS:
        result["warning"] = f"{requests_per_run} requests a run: p95/p99 need >= {P2_MIN_REQUESTS}"
    if profile and profile_path.exists():
        result["profile"] = [{"share": a, "db_share": b, "frame": c}
                             for a, b, c in summarise_profile(profile_path)]
    if not quiet:
        print_table(result)
        for row in result.get("profile", []):
            print(f"  {row['share']:6.1%} of server samples ({row['db_share']:5.1%} waiting on PostgreSQL)  "
                  f"{row['frame']}")
    return result


ROW_LABELS = {"app": "application: POST {path}", "ceiling": "framework ceiling: plain Django view, raw SQL",
              "raw": "raw SQL: pgbench -M prepared"}


def print_table(r: dict) -> None:
    bulk = r["benchmark"] == "P2"
    unit = "packages/s" if bulk else "requests/s"
    title = (f"{r['benchmark']} ship: gunicorn {r['workers']}x{r['threads']} (gthread), "
             f"broker {r['broker']}, {r['clients']} clients, {r['requests_per_run']:,} requests = "
             f"{r['packages_per_run']:,} packages a run, median of {r['repeat']}; "
             "CPU ms per request (server / PostgreSQL / client / machine)")
    t = Table(title, ["row", unit, "p50 ms", "p95 ms", "p99 ms", "CPU srv", "CPU pg", "CPU cli", "CPU all",
                      "ratio", "target", "verdict"])
    path = "…/actions/ship/ (bulk)" if bulk else "…/{number}/actions/ship/"
    for row, runs in r["runs"].items():
        cpu = {k: median(x["cpu_ms_per_request"][k] for x in runs)
               for k in ("server", "postgresql", "client", "machine")}
        ratio, target, met = "", "", ""
        if row == "app" and "app_vs_raw" in r:
            ratio = f"{r['app_vs_raw']:.0%} of raw"
            target, met = f">= {r['raw_target']:.0%}", verdict(r["raw_target_met"])
        t.add(ROW_LABELS[row].format(path=path), r[f"{row}_packages_per_second"],
              median(x["p50_ms"] for x in runs), median(x["p95_ms"] for x in runs),
              median(x["p99_ms"] for x in runs), cpu["server"], cpu["postgresql"], cpu["client"],
              cpu["machine"], ratio, target, met)
        if row == "app" and "app_vs_ceiling" in r:
            t.add("  (application vs ceiling)", "", "", "", "", "", "", "", "",
                  f"{r['app_vs_ceiling']:.0%} of ceiling", f">= {r['ceiling_target']:.0%}",
                  verdict(r["ceiling_target_met"]))
    t.print()
    app = r["statements"].get("app")
    if app:
        print(f"  statements per ship: application {len(app)} round trips "
              f"({', '.join(s.split()[0] for s in app)}); raw SQL {r['statements']['raw']}")
    last = {row: checks[-1] for row, checks in r["checks"].items()}
    for row, check in last.items():
        print(f"  {row}: {check['shipped']}/{check['packages']} shipped exactly once; event payload "
              f"{check['event_payload_bytes'] or 0:.0f} B"
              + (f", stored answer {check['stored_answer_bytes']:.0f} B"
                 if check["stored_answer_bytes"] else ""))
    for row, command in r["commands"].items():
        print(f"  {row}: {command}")
    if r.get("warning"):
        print(f"  warning: {r['warning']}")


def main(argv=None) -> None:
    parser = base_parser("P1/P2: ship over HTTP (gunicorn) vs raw SQL (pgbench).", db="oms_bench")
    parser.add_argument("--bulk", action="store_true",
                        help="P2: bulk endpoint, --bulk-size packages per request")
    parser.add_argument("--bulk-size", type=int, default=BULK_SIZE)
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (P1 8, P2 2)")
    parser.add_argument("--requests", type=int, default=None, help="requests per client (P1 60, P2 10)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--broker", default=DEFAULT_BROKER,
                        help=f"Celery broker of the servers (default {DEFAULT_BROKER}; its 'celery' queue "
                             "is emptied afterwards)")
    parser.add_argument("--rows", default="app,ceiling,raw",
                        help="rows to measure, comma-separated: app, ceiling (P1), raw")
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy in one extra HTTP run; print where time goes")
    parser.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True,
                        help="P1: also measure the framework ceiling; --no-ceiling to skip")
    parser.add_argument("--base", type=int, default=100_000, help="base dataset size if it must be generated")
    args = parser.parse_args(argv)
    bootstrap(args.db)
    require_postgresql()
    ensure_dataset(DatasetSpec(packages=args.base))
    rows = tuple(row.strip() for row in args.rows.split(",") if row.strip())
    result = run(bulk=args.bulk, clients=args.clients, per_client=args.requests, workers=args.workers,
                 threads=args.threads, repeat=args.repeat, bulk_size=args.bulk_size, profile=args.profile,
                 ceiling=args.ceiling and not args.bulk, broker=args.broker, rows=rows, db=args.db)
    print(f"  results: {save_results('p2_bulk' if args.bulk else 'p1_actions', result, args.json)}")


if __name__ == "__main__":
    main()
