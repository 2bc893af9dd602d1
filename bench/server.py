"""A real HTTP server for the API benchmarks, and keep-alive HTTP clients.

``gunicorn_server()`` starts ``gunicorn oms.config.wsgi`` (gthread workers, so connections stay open
between requests) on a free loopback port against Django's current database, with
production-like settings (``DJANGO_DEBUG=false``, persistent database connections, the
Celery broker it is given: Redis for P1/P2, in-memory by default; no API rate limits), waits
until it answers, yields its base URL, and stops it (its own process id only) on exit. ``run_clients()``
drives k threads, each with one keep-alive ``http.client`` connection, over a list of
requests. ``broker_purge()`` empties the queue the servers' hand-offs went to (no worker
consumes them during a benchmark).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.harness import BASE_DIR, BENCH_RATE_LIMITS_OFF, RESULTS_DIR, current_database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn_server(*, workers: int = 4, threads: int = 2, ready_path: str = "/api/v1/",
                    startup_seconds: float = 60.0, settings: str = "oms.config.settings",
                    broker: str = "memory://"):
    """Run gunicorn on 127.0.0.1 with the Django settings module ``settings`` and the Celery
    broker ``broker``; yield ``(host, port, pid)``. It is ready once ``GET ready_path`` gets
    any HTTP answer."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_RESULT_BACKEND")}
    env.update({
        "DATABASE_URL": current_database_url(), "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_DEBUG": "false", "CELERY_BROKER_URL": broker, "LOG_LEVEL": "WARNING",
        "DATABASE_CONN_MAX_AGE": "600", "PYTHONPATH": str(BASE_DIR), **BENCH_RATE_LIMITS_OFF,
    })
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # the last server's output, one file per settings module (two servers may run at once)
    log_path = RESULTS_DIR / (
        "gunicorn.log" if settings == "oms.config.settings" else f"gunicorn-{settings}.log"
    )
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "oms.config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
         "--keep-alive", "60", "--timeout", "120", "--log-level", "warning"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", ready_path)
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"gunicorn did not answer in {startup_seconds} s; see {log_path}") from None
                time.sleep(0.2)
        yield "127.0.0.1", port, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # our own child only; gunicorn stops its workers
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@dataclass
class ClientRun:
    """What ``run_clients`` measured: wall seconds, per-request latencies, statuses."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, p: float) -> float:
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def run_clients(host: str, port: int, jobs: Sequence[Sequence[tuple]], *,
                headers: dict[str, str], keep_bodies: bool = False,
                check: Callable[[int, bytes], bool] | None = None) -> ClientRun:
    """Run one thread per entry of ``jobs``; each sends its ``(method, path, body)`` or
    ``(method, path, body, extra headers)`` requests in order over one keep-alive connection.
    Starts them together; returns the wall time from the start until the last response."""
    barrier = threading.Barrier(len(jobs) + 1)
    lock = threading.Lock()
    run = ClientRun(seconds=0.0)

    def worker(requests):
        conn = http.client.HTTPConnection(host, port, timeout=120)
        local_lat, local_status, local_fail, local_bodies = [], {}, [], []
        barrier.wait()
        for method, path, body, *extra in requests:
            request_headers = {**headers, **extra[0]} if extra else headers
            for attempt in range(2):
                try:
                    started = time.perf_counter()
                    conn.request(method, path, body=body, headers=request_headers)
                    response = conn.getresponse()
                    data = response.read()
                    local_lat.append(time.perf_counter() - started)
                    local_status[response.status] = local_status.get(response.status, 0) + 1
                    if check is not None and not check(response.status, data):
                        local_fail.append(f"{method} {path}: {response.status} {data[:200]!r}")
                    if keep_bodies:
                        local_bodies.append(json.loads(data))
                    break
                except (http.client.HTTPException, OSError) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=120)
                    if attempt:
                        local_fail.append(f"{method} {path}: {exc!r}")
        conn.close()
        with lock:
            run.latencies += local_lat
            run.failures += local_fail
            run.bodies += local_bodies
            for status, n in local_status.items():
                run.statuses[status] = run.statuses.get(status, 0) + n

    threads = [threading.Thread(target=worker, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def api_token(username: str = "bench-api", *, locations: Sequence[str] = ()) -> str:
    """Return a fresh read-write key (``manage.py create_api_token``), for the stock
    locations with codes ``locations`` (all locations when empty)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from oms.api.models import ApiToken

    user, _ = get_user_model().objects.get_or_create(username=username)
    ApiToken.objects.filter(user=user, name="bench").delete()
    out = io.StringIO()
    args = ["--locations", ",".join(locations)] if locations else []
    call_command("create_api_token", username, "--name", "bench", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def broker_check(url: str) -> None:
    """Raise RuntimeError unless the broker ``url`` answers (memory:// always does)."""
    if url.startswith("memory://"):
        return
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means the same here
        raise RuntimeError(f"Celery broker {url} does not answer: {exc!r}") from exc


def broker_purge(url: str, queues: Sequence[str] = ("celery",)) -> int:
    """Delete the messages waiting in ``queues`` of the broker ``url``; return how many."""
    if url.startswith("memory://"):
        return 0
    from kombu import Connection

    purged = 0
    with Connection(url) as conn, conn.channel() as channel:
        for queue in queues:
            try:
                purged += channel.queue_purge(queue) or 0
            except Exception:  # noqa: BLE001 - a queue never declared has nothing to purge
                pass
    return purged


@contextmanager
def pyspy_record(pid: int, path, *, rate: int = 200, idle: bool = True):
    """Sample process ``pid`` and its children with py-spy while the block runs (raw format,
    one collapsed stack per line); no-op when py-spy is not installed."""
    import shutil

    exe = shutil.which("py-spy") or str(BASE_DIR / ".venv" / "bin" / "py-spy")
    if not os.path.exists(exe):
        yield None
        return
    cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate), "--format", "raw",
           "--output", str(path), "--nonblocking"]
    if idle:
        cmd.append("--idle")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach to every worker
    try:
        yield path
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


IDLE_LEAVES = frozenset({"select", "poll", "wait", "accept", "sleep", "_wait_for_tstate_lock", "get",
                         "_worker", "wait_for_signals"})


def summarise_profile(path, *, app_prefixes=("packages/", "locations/", "oms/", "transfers/"),
                      top: int = 25) -> list[tuple[float, float, str]]:
    """Return ``[(share of samples, share waiting on the database, deepest project frame)]``
    from a py-spy raw file, largest first. Database wait = samples whose leaf is the
    cursor's execute or a commit."""
    from collections import Counter

    total, by_frame, db = 0, Counter(), Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            leaf = frames[-1].split(" (")[0].rsplit(".", 1)[-1]
            if leaf in IDLE_LEAVES or any("gunicorn/arbiter.py" in fr for fr in frames[-3:]):
                continue  # idle master, idle gthread loop and pool threads
            total += n
            key = "(framework: django / DRF / gunicorn)"
            for fr in frames:
                if any(p in fr for p in app_prefixes) and "/site-packages/" not in fr:
                    key = fr.split(" (")[0] + " (" + fr.split(" (")[-1]
            by_frame[key] += n
            if "backends/utils.py" in frames[-1] or "_commit" in frames[-1] or "psycopg" in frames[-1]:
                db[key] += n
    return [(n / total, db[k] / total, k) for k, n in by_frame.most_common(top)] if total else []
