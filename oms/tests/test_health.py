"""/healthz and /readyz: liveness without the database; readiness naming what is down."""

import datetime as dt
import socket
import threading
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from oms.config.celery import app as celery_app
from oms.observability import health
from oms.observability.heartbeat import HEARTBEAT_JOB, HEARTBEAT_TASK
from oms.observability.jobs import job_run_record
from oms.observability.models import JobRun

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:  # bound and closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _beat_seen(seconds_ago: float = 0) -> None:
    job_run_record(job=HEARTBEAT_JOB, key="beat", at=timezone.now() - dt.timedelta(seconds=seconds_ago))


def test_healthz_answers_without_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_probes_answer_any_host_name():
    """Load balancers call a machine by its address, not a name of DJANGO_ALLOWED_HOSTS."""
    _beat_seen()
    assert Client().get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert Client().get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert Client().get("/admin/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_probes_answer_plain_http_when_https_is_enforced(settings):
    settings.SECURE_SSL_REDIRECT = True
    _beat_seen()
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz").status_code == 200
    assert Client().get("/admin/login/").status_code == 301


def test_readyz_ready_when_all_is_up():
    _beat_seen(seconds_ago=1)
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["down"] == []
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok", "migrations": "ok", "broker": "ok", "beat": "ok"}


def test_readyz_names_the_broker_when_it_cannot_be_reached(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    _beat_seen()
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["broker"]
    assert body["checks"]["broker"]["status"] == "down"
    assert "127.0.0.1" not in body["checks"]["broker"]["detail"]  # no host names to the public
    assert body["checks"]["database"]["status"] == "ok"


def test_readyz_names_beat_without_a_heartbeat():
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["beat"]
    assert response.json()["checks"]["beat"] == {"status": "down", "detail": "no heartbeat recorded"}


def test_readyz_names_beat_when_its_heartbeat_is_too_old(settings):
    settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS = 90
    _beat_seen(seconds_ago=120)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["beat"]
    assert "limit 90 s" in response.json()["checks"]["beat"]["detail"]
    _beat_seen(seconds_ago=60)
    assert Client().get("/readyz").status_code == 200


def test_readyz_exclude_leaves_checks_out(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = Client().get("/readyz?exclude=broker&exclude=beat")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"status": "skipped", "detail": "excluded"}
    response = Client().get("/readyz?exclude=brokr")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_check"


def test_readyz_names_the_database_and_skips_what_needs_it(monkeypatch):
    def refused():
        raise ConnectionError("database went away")

    monkeypatch.setitem(health.CHECKS, "database", refused)
    _beat_seen()
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database"]
    assert body["checks"]["migrations"] == {"status": "skipped", "detail": "database down"}
    assert body["checks"]["beat"] == {"status": "skipped", "detail": "database down"}


def test_readyz_names_unapplied_migrations(monkeypatch):
    class Executor:
        def __init__(self, connection):
            self.loader = SimpleNamespace(graph=SimpleNamespace(leaf_nodes=lambda: []))

        def migration_plan(self, targets):
            return [("oms", "0099_not_yet")]

    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(health, "MigrationExecutor", Executor)
    _beat_seen()
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["migrations"]
    assert response.json()["checks"]["migrations"]["detail"] == "1 migration(s) not applied"


def test_migrations_check_reads_the_database_until_all_are_applied(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    assert health.check_migrations() is None
    assert health._migrations_applied is True


def test_probes_refuse_other_methods():
    assert Client().post("/readyz").status_code == 405


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_beat_stamps_its_heartbeat_when_it_sends_it(settings):
    """Beat's hand-off of the heartbeat to the broker (memory broker here) stamps ``beat``;
    the worker's run of it stamps ``worker``."""
    before = timezone.now()
    celery_app.send_task(HEARTBEAT_TASK)  # what beat does (send_task is never eager)
    beat = JobRun.objects.get(job=HEARTBEAT_JOB, key="beat")
    assert beat.runs == 1 and beat.last_run_at >= before
    assert not JobRun.objects.filter(job=HEARTBEAT_JOB, key="worker").exists()
    with celery_app.connection_for_read() as conn:  # leave the memory queue empty
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    celery_app.tasks[HEARTBEAT_TASK].delay()  # eager in tests: runs here, as a worker would
    assert JobRun.objects.get(job=HEARTBEAT_JOB, key="worker").runs == 1
    assert JobRun.objects.get(job=HEARTBEAT_JOB, key="beat").runs == 1


def test_job_run_record_counts_runs_and_items():
    first = timezone.now() - dt.timedelta(minutes=1)
    job_run_record(job="package_recheck_due", key="brand-a", items=3, at=first)
    job_run_record(job="package_recheck_due", key="brand-a", items=2)
    job_run_record(job="package_recheck_due", key="brand-b")
    a = JobRun.objects.get(job="package_recheck_due", key="brand-a")
    assert (a.runs, a.items) == (2, 5) and a.last_run_at > first
    assert JobRun.objects.get(job="package_recheck_due", key="brand-b").runs == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_job_run_record_first_runs_at_once_count_each(settings):
    """Two first runs racing: the unique constraint turns the loser's insert into an update."""
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            job_run_record(job="race", key="k", items=1)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row = JobRun.objects.get(job="race", key="k")
    assert (row.runs, row.items) == (4, 4)
