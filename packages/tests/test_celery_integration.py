"""End to end with a real Redis broker, a real Celery worker, beat and outbox relay (not eager).

The worker, beat and relay run as subprocesses on the test's PostgreSQL database; the test only
writes rows and waits for the package to move by itself.
"""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.tests.factories import BrandFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/14")


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"needs Redis at {REDIS_TEST_URL}")
    client.flushdb()


def _env(tmp_path):
    db = connection.settings_dict
    env = dict(os.environ)
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env.update({
        "DJANGO_SETTINGS_MODULE": "oms.config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_TEST_URL,
        "CELERY_RESULT_BACKEND": REDIS_TEST_URL,
        "REDIS_URL": REDIS_TEST_URL,
        "RECHECK_BEAT_SECONDS": "1",
        "OMS_VAR_DIR": str(tmp_path),
        "DATABASE_CONN_MAX_AGE": "0",
    })
    return env


@pytest.fixture
def celery_processes(tmp_path):
    _redis_or_skip()
    env = _env(tmp_path)
    celery = [sys.executable, "-m", "celery", "-A", "oms"]
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("worker", "beat", "relay")}
    procs = [
        subprocess.Popen(celery + ["worker", "--pool=solo", "--without-mingle", "--without-gossip",
                                   "--loglevel=INFO"],
                         cwd=ROOT, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT),
        subprocess.Popen(celery + ["beat", "--loglevel=INFO",
                                   f"--schedule={tmp_path / 'beat-schedule'}"],
                         cwd=ROOT, env=env, stdout=logs["beat"], stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "manage.py", "outbox_relay"],
                         cwd=ROOT, env=env, stdout=logs["relay"], stderr=subprocess.STDOUT),
    ]
    yield env
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    for log in logs.values():
        log.close()
    print("celery logs:", tmp_path)


def _wait_for_status(package, status, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        package.refresh_from_db()
        if package.status == status:
            return
        time.sleep(0.5)
    raise AssertionError(f"package still {package.get_status_display()} after {timeout}s")


def _out_of_stock(*, next_check_in):
    brand, location, sku = BrandFactory(recheck_interval_minutes=1), StockLocationFactory(), SkuFactory()
    level = StockLevel.objects.create(location=location, sku=sku, on_hand=0)
    package = Package.objects.create(
        number=f"IT-{sku.code}", order_number="O", brand=brand, location=location,
        status=Status.PRODUCT_OUT_OF_STOCK, next_stock_check_at=timezone.now() + next_check_in)
    PackageItem.objects.create(package=package, sku=sku, quantity=1)
    return package, level


def test_beat_reschedules_a_due_package_once_stock_is_back(celery_processes):
    package, level = _out_of_stock(next_check_in=dt.timedelta(seconds=3))
    # stock arrives without the event path (a raw update): only the periodic check can see it
    StockLevel.objects.filter(pk=level.pk).update(on_hand=1)
    _wait_for_status(package, Status.IN_PROGRESS)
    log = PackageTransition.objects.get(package=package)
    assert (log.from_status, log.to_status, log.action, log.actor) == (920, 200, "reschedule",
                                                                      "system:recheck")
    level.refresh_from_db()
    assert level.reserved == 1


def test_stock_raised_through_the_service_reschedules_without_waiting(celery_processes):
    package, level = _out_of_stock(next_check_in=dt.timedelta(hours=1))
    code = (
        "from locations.models import StockLevel; from locations.services import stock_level_set; "
        f"lvl = StockLevel.objects.select_related('location', 'sku').get(pk={level.pk}); "
        "stock_level_set(location=lvl.location, sku=lvl.sku, on_hand=1)"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                   env=celery_processes, check=True, capture_output=True, timeout=60)
    _wait_for_status(package, Status.IN_PROGRESS)
    assert PackageTransition.objects.filter(package=package, action="reschedule").count() == 1
