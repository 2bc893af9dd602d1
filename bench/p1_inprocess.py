"""P1 without the network: what one ship costs the server process itself.

    .venv/bin/python -m bench.p1_inprocess                    # 2,000 ships
    .venv/bin/python -m bench.p1_inprocess --requests 400 --quiet

``POST /api/v1/packages/{number}/actions/ship/`` is sent ``--requests`` times, one after the
other in one thread, straight into Django's WSGI handler (``django.core.handlers.wsgi``,
the production settings of the HTTP benchmark: persistent connections, prepared
statements, the outbox relay), on distinct packages of ``bench.actions.ship_pool``. It
prints the statements one ship sends to PostgreSQL and the thread CPU time and wall time
per request: the server-side cost P1 pays per request, minus gunicorn's own share.

To compare two versions of the code where wall-clock figures move too much on a shared
machine, count instructions instead, which repeat exactly: run this under
``valgrind --tool=callgrind`` with ``--requests 100`` and with ``--requests 400`` and
divide the difference of the two totals by 300 (set ``API_TOKEN_CACHE_SECONDS=3600`` and
``OUTBOX_HANDOFF_LINGER_MS=600000`` so that the 50-fold slow-down does not change how often
the token is read again or the relay sends). docs/benchmarks.md (P1) reports both kinds.
"""

from __future__ import annotations

import io
import json
import sys
import time

from bench.datagen import DatasetSpec, ensure_dataset
from bench.harness import base_parser, bootstrap, require_postgresql, save_results

WARM_UP = 50


def _environ(path: str, body: bytes, key: str) -> dict:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Token {key}", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }


def run(*, requests: int) -> dict:
    """Ship ``requests`` packages through the WSGI handler after ``WARM_UP`` uncounted ones;
    return the statements of one ship and the CPU and wall time per request (ms). Raises
    RuntimeError when a request is not answered 200."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from bench import actions
    from bench.server import api_token

    actions.cleanup()
    key = api_token()
    numbers = actions.ship_pool(WARM_UP + 1 + requests, f"inproc{int(time.time())}")
    handler = WSGIHandler()

    def ship(number: str) -> None:
        body = json.dumps({"carrier": actions.CARRIER, "tracking_number": f"T{number}"}).encode()
        status = []
        b"".join(handler(_environ(f"/api/v1/packages/{number}/actions/ship/", body, key),
                         lambda s, headers, *exc: status.append(s)))
        if not status[0].startswith("200"):
            raise RuntimeError(f"ship {number}: {status[0]}")

    try:
        for number in numbers[:WARM_UP]:
            ship(number)
        sent = []

        def record(execute, sql, params, many, context):
            sent.append(sql if not params else context["cursor"].mogrify(sql, params).decode())
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):  # BEGIN/COMMIT are not statements here
            ship(numbers[WARM_UP])
        counted = numbers[WARM_UP + 1:]
        cpu, wall = time.thread_time(), time.perf_counter()
        for number in counted:
            ship(number)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    finally:
        actions.cleanup()
    per_request = 1000 / len(counted)
    return {"requests": len(counted), "statements": sent,
            "cpu_ms_per_request": cpu * per_request, "wall_ms_per_request": wall * per_request}


def main(argv=None) -> None:
    parser = base_parser("P1 in one process: statements and CPU per ship request.", db="oms_bench")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--quiet", action="store_true", help="print only the per-request figures")
    parser.add_argument("--base", type=int, default=100_000, help="base dataset size if it must be generated")
    args = parser.parse_args(argv)
    bootstrap(args.db)
    require_postgresql()
    ensure_dataset(DatasetSpec(packages=args.base))
    result = run(requests=args.requests)
    if not args.quiet:
        print(f"one ship sends {len(result['statements'])} statements:")
        for sql in result["statements"]:
            print(f"  {sql[:150]}{'…' if len(sql) > 150 else ''}")
    print(f"{result['requests']} ships in one thread: {result['cpu_ms_per_request']:.3f} ms CPU, "
          f"{result['wall_ms_per_request']:.3f} ms wall per request")
    print(f"  results: {save_results('p1_inprocess', result, args.json)}")


if __name__ == "__main__":
    main()
