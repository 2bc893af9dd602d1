"""Database connections on PostgreSQL: borrowed from the pool with server-side binding, and one
the server dropped between requests costs no request (pooled or kept)."""

import time

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from locations.tests.factories import StockLocationFactory
from oms.api.testing import api_client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _serve(path: str, key: str) -> int:
    """Run one GET through Django's WSGI handler in this thread, signals included (the test
    client skips ``close_old_connections``, which is where a connection is checked or given
    back to the pool)."""
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET",
                                             HTTP_AUTHORIZATION=f"Token {key}")
    status = []
    response = WSGIHandler()(environ, lambda line, headers, exc_info=None: status.append(line))
    b"".join(response)
    response.close()  # request_finished
    return int(status[0].split()[0])


def _terminate_other_backends() -> list[int]:
    """Terminate every other server process on the test database, from a connection outside
    the pool, and wait until they are gone; return their pids."""
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    with psycopg.connect(**{k: params[k] for k in keys if k in params}, autocommit=True) as admin:
        pids = [pid for (pid,) in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")]
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
        deadline = time.monotonic() + 5
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                            [pids]).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
    return pids


def test_the_pool_and_server_side_binding_are_in_effect():
    options = connection.settings_dict["OPTIONS"]
    threshold = options["prepare_threshold"]
    connection.ensure_connection()

    assert connection.pool is not None and connection.settings_dict["CONN_MAX_AGE"] == 0
    assert isinstance(connection.connection, psycopg.Connection)
    assert connection.features.uses_server_side_binding
    with connection.cursor() as cursor:
        # Server-side binding sends "$1" and the value apart; psycopg prepares the statement
        # on this connection once it ran ``prepare_threshold`` times (client-side binding
        # would send the literal and never prepare).
        for units in range(threshold + 1):
            cursor.execute("SELECT %s::integer + 1", [units])
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql "
                       "AND position(%s in statement) > 0", ["$1::integer + 1"])
        assert cursor.fetchall() == [("SELECT $1::integer + 1",)]
        # A list goes as one array parameter.
        cursor.execute("SELECT cardinality(%s::text[])", [["A-1", "A-2"]])
        assert cursor.fetchone() == (2,)
    connection.close()


def test_a_pooled_connection_killed_between_requests_costs_no_request():
    """The borrower checks the idle connections in turn, pausing between failed checks
    (psycopg_pool's backoff: 1 s, 2 s, 4 s …, up to the pool's timeout), then gets a new one."""
    StockLocationFactory()
    key = api_client()[0].api_key
    connection.close()
    connection.close_pool()  # a new pool: its MIN_SIZE connections only
    assert _serve("/api/v1/locations/", key) == 200
    connection.pool.wait()
    assert _terminate_other_backends(), "the pool keeps no connection open"

    assert _serve("/api/v1/locations/", key) == 200
    assert _serve("/api/v1/locations/", key) == 200
    connection.close()


def test_a_kept_connection_killed_between_requests_costs_no_request(monkeypatch):
    """Without the pool (DATABASE_POOL=false), with kept connections."""
    StockLocationFactory()
    key = api_client()[0].api_key
    connection.close()
    connection.close_pool()  # its connections are not the ones to kill
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "pool", raising=False)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)  # kept, as when served

    try:
        assert _serve("/api/v1/locations/", key) == 200
        assert _terminate_other_backends() == [connection.connection.info.backend_pid]

        assert _serve("/api/v1/locations/", key) == 200
        assert _serve("/api/v1/locations/", key) == 200
    finally:
        connection.close()  # not a pooled one: closed before the pool comes back
