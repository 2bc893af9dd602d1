"""Real processes: a Celery beat and gunicorn (two workers, multiprocess metrics) on the
test's PostgreSQL database and a file-system broker. /readyz turns ready once beat's
heartbeat is in the database, and /metrics shows it, answered by either worker."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from oms.observability.models import JobRun
from oms.testing import free_port, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "live-metrics-token"



def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""



@pytest.fixture
def beat_and_web(tmp_path):
    db = connection.settings_dict
    host, db_port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "oms.config.settings", "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "live-" + "x" * 50, "DJANGO_ALLOWED_HOSTS": "oms.example.com",
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{db_port}/{db['NAME']}",
        "OMS_VAR_DIR": str(tmp_path), "BEAT_HEARTBEAT_SECONDS": "1", "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "LOG_LEVEL": "INFO",
    })
    commands = {
        "web": [sys.executable, "-m", "gunicorn", "oms.config.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", "2", "--timeout", "60"],
        "beat": [sys.executable, "-m", "celery", "-A", "oms", "beat", "--loglevel=INFO",
                 f"--schedule={tmp_path / 'beat-schedule'}"],
    }
    logs, procs = {}, {}
    for name, command in commands.items():
        logs[name] = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed below
        procs[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs[name],
                                       stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs.values():
            log.close()


def test_readyz_follows_the_beat_heartbeat(beat_and_web):
    base, procs = beat_and_web
    wait_until(lambda: _get(base + "/healthz")[0] == 200, "gunicorn to answer")
    wait_until(lambda: JobRun.objects.filter(job="heartbeat", key="beat").exists(), "beat's heartbeat")
    wait_until(lambda: _get(base + "/readyz")[0] == 200, "/readyz to turn ready")
    status, body = _get(base + "/readyz")
    assert json.loads(body)["down"] == []

    auth = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(4):  # either gunicorn worker answers with the same series
        status, body = _get(base + "/metrics", auth)
        assert status == 200
        assert b'oms_heartbeat_timestamp_seconds{process="beat"}' in body
        assert b"django_http_requests_latency_including_middlewares_seconds" in body
    assert _get(base + "/metrics")[0] == 403

    os.killpg(procs["beat"].pid, signal.SIGTERM)  # beat stops: its heartbeat ages out
    procs["beat"].wait(timeout=15)
    JobRun.objects.filter(job="heartbeat", key="beat").update(
        last_run_at=JobRun.objects.get(job="heartbeat", key="beat").last_run_at.replace(year=2000))
    status, body = _get(base + "/readyz")
    assert status == 503
    assert json.loads(body)["down"] == ["beat"]
