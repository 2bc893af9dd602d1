"""P1 without the network: what one ship costs the server process itself.

    .venv/bin/python -m bench.p1_inprocess                    # 2,000 ships
    .venv/bin/python -m bench.p1_inprocess --requests 400 --quiet

``POST /api/v1/packages/{number}/actions/ship/`` is sent ``--requests`` times, one after the
other in one thread, straight into Django's WSGI handler (``django.core.handlers.wsgi``,
the production settings of the HTTP benchmark: persistent connections, prepared
statements, the outbox relay; Celery's broker in memory here), on distinct packages of
``bench.actions.ship_pool``, shaped as P1 sends them (a token scoped to the pool's
locations, a unique ``Idempotency-Key``, ``If-Match``). It prints the round trips one ship
makes to PostgreSQL (``capture_one_ship``: statements, savepoints, and the ``BEGIN`` and
``COMMIT`` psycopg sends itself) and the thread CPU time and wall time per request: the
server-side cost P1 pays per request, minus gunicorn's own share.

To compare two versions of the code where wall-clock figures move too much on a shared
machine, count instructions instead, which repeat exactly: run this under
``valgrind --tool=callgrind`` with ``--requests 100`` and with ``--requests 400`` and
divide the difference of the two totals by 300 (set ``OUTBOX_HANDOFF_LINGER_MS=600000`` so
that the 50-fold slow-down does not change how often the relay sends). docs/benchmarks.md
(P1) reports both kinds.
"""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
from contextlib import contextmanager

from bench.datagen import DatasetSpec, ensure_dataset
from bench.harness import base_parser, bootstrap, require_postgresql, save_results

WARM_UP = 50


def _environ(path: str, body: bytes, key: str, extra: dict[str, str]) -> dict:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Token {key}", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    environ.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in extra.items()})
    return environ


def _shipper(key: str):
    """Return ``ship(number)``: one production-shaped ship request through the WSGI handler.
    Raises RuntimeError when it is not answered 200."""
    from django.core.handlers.wsgi import WSGIHandler

    from bench import actions
    from bench.p1_actions import IF_MATCH

    handler = WSGIHandler()

    def ship(number: str) -> None:
        body = json.dumps({"carrier": actions.CARRIER, "tracking_number": f"TRK-{number}"}).encode()
        extra = {"Idempotency-Key": str(uuid.uuid4()), "If-Match": f'"{IF_MATCH}"'}
        status = []
        b"".join(handler(_environ(f"/api/v1/packages/{number}/actions/ship/", body, key, extra),
                         lambda s, headers, *exc: status.append(s)))
        if not status[0].startswith("200"):
            raise RuntimeError(f"ship {number}: {status[0]}")

    return ship


@contextmanager
def round_trips():
    """Record what Django's connection sends to PostgreSQL: ``with round_trips() as sent: …``.

    ``sent`` lists the statements (parameters inlined), savepoints included, with ``BEGIN``
    where psycopg opens a transaction itself (the first statement after autocommit went off)
    and ``COMMIT`` / ``ROLLBACK``."""
    from django.db import connection

    sent: list[str] = []
    state = {"begin": False}
    real = {name: getattr(connection, name) for name in ("_set_autocommit", "_commit", "_rollback")}

    def set_autocommit(autocommit):
        state["begin"] = not autocommit
        return real["_set_autocommit"](autocommit)

    def commit():
        if not state["begin"]:  # a transaction that sent something
            sent.append("COMMIT")
        state["begin"] = False
        return real["_commit"]()

    def rollback():
        if not state["begin"]:
            sent.append("ROLLBACK")
        state["begin"] = False
        return real["_rollback"]()

    def record(execute, sql, params, many, context):
        if state["begin"]:
            sent.append("BEGIN")
            state["begin"] = False
        sent.append(sql if not params else connection.ops.compose_sql(sql, params))
        return execute(sql, params, many, context)

    connection._set_autocommit, connection._commit, connection._rollback = set_autocommit, commit, rollback
    try:
        with connection.execute_wrapper(record):
            yield sent
    finally:
        for name in real:
            delattr(connection, name)  # back to the class's methods


def capture_one_ship(*, key: str, location_ids) -> list[str]:
    """Ship two pool packages through the WSGI handler (the first warms the prepared
    statements and stamps the token's last use) and return the round trips of the second (``round_trips``)."""
    from bench import actions

    ship = _shipper(key)
    first, second = actions.ship_pool(2, f"cap{int(time.time() * 1000) % 10**8}", location_ids=location_ids)
    ship(first)
    with round_trips() as sent:
        ship(second)
    return sent


def run(*, requests: int) -> dict:
    """Ship ``requests`` packages through the WSGI handler after ``WARM_UP`` uncounted ones;
    return the round trips of one ship and the CPU and wall time per request (ms). Raises
    RuntimeError when a request is not answered 200."""
    from bench import actions
    from bench.server import api_token

    actions.cleanup()
    locations = actions.scope_locations()
    location_ids = [pk for pk, _ in locations]
    key = api_token(locations=[code for _, code in locations])
    numbers = actions.ship_pool(WARM_UP + requests, f"inproc{int(time.time())}", location_ids=location_ids)
    ship = _shipper(key)
    try:
        for number in numbers[:WARM_UP]:
            ship(number)
        sent = capture_one_ship(key=key, location_ids=location_ids)
        counted = numbers[WARM_UP:]
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
        print(f"one ship makes {len(result['statements'])} round trips to PostgreSQL:")
        for sql in result["statements"]:
            print(f"  {sql[:150]}{'…' if len(sql) > 150 else ''}")
    print(f"{result['requests']} ships in one thread: {result['cpu_ms_per_request']:.3f} ms CPU, "
          f"{result['wall_ms_per_request']:.3f} ms wall per request")
    print(f"  results: {save_results('p1_inprocess', result, args.json)}")


if __name__ == "__main__":
    main()
