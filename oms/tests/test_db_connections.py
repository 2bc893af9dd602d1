"""Kept database connections: one the server dropped between requests costs no request."""

import threading

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from locations.tests.factories import StockLocationFactory
from oms.api_testing import api_client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _serve(path: str, key: str) -> int:
    """Run one GET through Django's WSGI handler in this thread, signals included (the test
    client skips ``close_old_connections``, which is where a kept connection is checked)."""
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET",
                                             HTTP_AUTHORIZATION=f"Token {key}")
    status = []
    response = WSGIHandler()(environ, lambda line, headers, exc_info=None: status.append(line))
    b"".join(response)
    response.close()  # request_finished
    return int(status[0].split()[0])


def _terminate(pid: int) -> None:
    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def test_a_kept_connection_killed_between_requests_costs_no_request(monkeypatch):
    StockLocationFactory()
    key = api_client()[0].api_key
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)  # kept, as when served

    assert _serve("/api/v1/locations/", key) == 200
    _terminate(connection.connection.info.backend_pid)

    assert _serve("/api/v1/locations/", key) == 200
    assert _serve("/api/v1/locations/", key) == 200
    connection.close()
