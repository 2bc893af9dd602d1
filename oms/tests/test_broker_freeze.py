"""A frozen broker is not an outage: with Redis stopped by SIGSTOP (a hung server, not a
refused connection), writes through the API answer at once (the API rate limits, counted in
the same Redis, let them through), and once Redis runs again every event is handed on and
delivered.

Real processes on a private ``redis-server`` (a spare port, nothing saved): gunicorn, the
outbox relay and a Celery worker, on the test's PostgreSQL database; a loopback receiver
takes the webhooks.
"""

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from locations.models import StockLevel
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from oms.testing import free_port, wait_until
from oms.tests.conftest import Receiver
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from packages.models import Package, Status
from packages.tests.helpers import make_package

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ANSWER_WITHIN_SECONDS = 2.0




@pytest.fixture
def private_redis(tmp_path):
    """``(url, pid)`` of a redis-server of this test's own; continued and stopped after."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server) for the freeze test")
    import redis

    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    wait_until(lambda: _pings(client), "redis-server to start", timeout=10)
    yield url, proc.pid
    os.kill(proc.pid, signal.SIGCONT)
    proc.terminate()
    proc.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


@pytest.fixture
def freeze_receiver():
    """The webhook receiver of the test, started before the processes allow its port."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def processes(private_redis, freeze_receiver, tmp_path):
    """Start gunicorn, the outbox relay and a worker on the private Redis; yield
    ``(base_url, redis_pid)``; stop them (their own process groups only) afterwards."""
    url, redis_pid = private_redis
    db = connection.settings_dict
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    host, db_port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env.update({
        "DJANGO_SETTINGS_MODULE": "oms.config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{db_port}/{db['NAME']}",
        "CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url, "CACHE_URL": url,
        "BROKER_SOCKET_TIMEOUT_SECONDS": "1", "OUTBOX_RELAY_POLL_SECONDS": "0.2",
        "WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{freeze_receiver.port}", "OMS_VAR_DIR": str(tmp_path),
        "DATABASE_CONN_MAX_AGE": "0", "LOG_LEVEL": "INFO",
    })
    commands = {
        "web": [sys.executable, "-m", "gunicorn", "oms.config.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", "2", "--worker-class", "gthread", "--threads", "2", "--timeout", "60"],
        "relay": [sys.executable, "manage.py", "outbox_relay"],
        "worker": [sys.executable, "-m", "celery", "-A", "oms", "worker", "--pool=solo",
                   "--without-mingle", "--without-gossip", "--loglevel=INFO"],
    }
    logs, procs = {}, []
    for name, command in commands.items():
        logs[name] = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed below
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs[name],
                                      stderr=subprocess.STDOUT, start_new_session=True))
    base = f"http://127.0.0.1:{port}"

    def web_answers():
        try:
            urllib.request.urlopen(base + "/api/v1/", timeout=2)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    try:
        wait_until(web_answers, "gunicorn to answer", timeout=20.0)
        yield base, redis_pid
    finally:
        os.kill(redis_pid, signal.SIGCONT)
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs.values():
            log.close()
        print("process logs:", tmp_path)


def _post(base, key, path, body):
    """POST JSON; return ``(status, seconds)`` (a request still hanging after 10 s raises)."""
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Token {key}",
                                              "Content-Type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, time.monotonic() - started


def test_writes_answer_while_redis_is_frozen_and_every_event_follows(processes, freeze_receiver):
    base, redis_pid = processes
    receiver = freeze_receiver
    WebhookSubscription.objects.create(name="erp", target_url=receiver.url, event_types=["package.*"])
    later = timezone.now() + dt.timedelta(hours=1)  # only an event can bring them back
    waiting_on_cancel = make_package(Status.PRODUCT_OUT_OF_STOCK, on_hand=0,
                                     next_stock_check_at=later)
    location, sku = waiting_on_cancel.location, waiting_on_cancel.items.get().sku
    StockLevel.objects.filter(location=location, sku=sku).update(on_hand=1, reserved=1)
    to_cancel = make_package(Status.PENDING, quantities=(), location=location)
    to_cancel.items.create(sku=sku, quantity=1)  # holds the one unit
    waiting_on_stock = make_package(Status.PRODUCT_OUT_OF_STOCK, on_hand=0, location=location,
                                    next_stock_check_at=later)
    restocked_sku = waiting_on_stock.items.get().sku
    to_ship = make_package(Status.PACKAGING_COMPLETED, location=location)
    _client, token = api_client()
    key = _client.api_key

    os.kill(redis_pid, signal.SIGSTOP)
    answers = {
        "stock": _post(base, key, "/api/v1/stock/",
                       [{"location": location.code, "sku": restocked_sku.code, "on_hand": 1}]),
        "cancel": _post(base, key, f"/api/v1/packages/{to_cancel.number}/actions/cancel/", {}),
        "ship": _post(base, key, f"/api/v1/packages/{to_ship.number}/actions/ship/",
                      {"carrier": "ACME", "tracking_number": "TRK1"}),
    }
    for name, (status, seconds) in answers.items():
        assert status == 200, name
        assert seconds < ANSWER_WITHIN_SECONDS, f"{name} took {seconds:.2f} s"
    time.sleep(1)  # the relay finds the events while Redis is still frozen, and waits
    os.kill(redis_pid, signal.SIGCONT)

    def all_delivered():
        undispatched = OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
        statuses = set(Package.objects.filter(pk__in=[waiting_on_cancel.pk, waiting_on_stock.pk])
                       .values_list("status", flat=True))
        pending = WebhookDelivery.objects.exclude(status="delivered").exists()
        return not undispatched and statuses == {Status.IN_PROGRESS} and not pending

    wait_until(all_delivered, "every event to be handed on and delivered", timeout=25)
    package_events = set(OutboxEvent.objects.filter(aggregate_type="package")
                         .values_list("uuid", flat=True))
    # cancel, ship and the two reschedules the stock rises caused
    assert len(package_events) == 4
    received = {json.loads(r["body"])["event"]["uuid"] for r in receiver.requests}
    assert received == {u.hex for u in package_events}
