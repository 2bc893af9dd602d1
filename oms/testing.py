"""Helpers for tests (imported by test modules only)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from django.db import connection
from prometheus_client.parser import text_string_to_metric_families


def run_concurrently(n: int, target, *, timeout_seconds: float = 60):
    """Start ``n`` threads at one barrier, each running ``target(i)``; return each thread's
    result or the exception it raised, in thread order.

    Each thread closes its database connection when done. Fails the test if a thread is
    still running after ``timeout_seconds`` (a deadlock or hang).
    """
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # collected and asserted by the caller
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_seconds)
    assert not any(thread.is_alive() for thread in threads), "deadlock or hang"
    return results


def olist_dir() -> Path | None:
    """Folder of the Olist sample given in ``$OLIST_DIR`` (a download of the Olist data), or
    None: tests of the real sample skip without it."""
    value = os.environ.get("OLIST_DIR")
    return Path(value) if value else None


def metrics_scrape(client, *, token: str = "test-metrics-token") -> dict[tuple, float]:
    """GET ``/metrics`` with ``token`` (the test must set ``settings.METRICS_TOKEN`` to it) and
    return ``{(sample name, (("label", "value"), …)): value}``, labels sorted by name."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, what: str, *, timeout: float = 30.0) -> None:
    """Call ``predicate`` every 0.2 s until it is true; fail the test naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
