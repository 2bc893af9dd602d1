"""Readiness checks behind ``/readyz``: database, migrations, broker, beat.

Every check reads something all web machines share (the database, the broker, the beat
heartbeat row), so any number of web machines answer alike and none needs anything of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from oms.observability.broker import broker_queue_lengths
from oms.observability.heartbeat import HEARTBEAT_JOB
from oms.observability.models import JobRun

logger = logging.getLogger(__name__)

READY, DOWN, SKIPPED = "ok", "down", "skipped"

# Once this process has seen every migration applied it stops asking: they stay applied.
_migrations_applied = False


def check_database() -> str | None:
    """``SELECT 1`` on the default database; None when it answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def check_migrations() -> str | None:
    """None when every migration of this code is applied, else how many are not."""
    global _migrations_applied
    if _migrations_applied:
        return None
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        return f"{len(plan)} migration(s) not applied"
    _migrations_applied = True
    return None


def check_broker() -> str | None:
    """Read the default queue's length from the broker (gives up after
    ``BROKER_SOCKET_TIMEOUT_SECONDS``); None when it answers."""
    broker_queue_lengths(queues=[settings.CELERY_TASK_DEFAULT_QUEUE])
    return None


def check_beat() -> str | None:
    """None when beat's heartbeat is at most ``BEAT_HEARTBEAT_MAX_AGE_SECONDS`` old."""
    seen_at = (JobRun.objects.filter(job=HEARTBEAT_JOB, key="beat")
               .values_list("last_run_at", flat=True).first())
    if seen_at is None:
        return "no heartbeat recorded"
    age_seconds = (timezone.now() - seen_at).total_seconds()
    limit = float(settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS)
    if age_seconds > limit:
        return f"last heartbeat {age_seconds:.0f} s ago (limit {limit:g} s)"
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "beat": check_beat,
}
NEEDS_DATABASE = frozenset({"migrations", "beat"})


def readiness(*, exclude: frozenset[str] = frozenset()) -> dict:
    """Run the checks not in ``exclude`` and return
    ``{"status": "ready" | "unavailable", "down": [names], "checks": {name: {"status", "detail"?}}}``.

    A check's ``status`` is ``"ok"``, ``"down"`` (with ``detail``: what is wrong, never a
    host name or password) or ``"skipped"`` (excluded, or needing the database when it is down).
    Raises KeyError for a name in ``exclude`` that is not a check.
    """
    unknown = exclude - CHECKS.keys()
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    checks: dict[str, dict] = {}
    for name, check in CHECKS.items():
        if name in exclude:
            checks[name] = {"status": SKIPPED, "detail": "excluded"}
            continue
        if name in NEEDS_DATABASE and checks.get("database", {}).get("status") == DOWN:
            checks[name] = {"status": SKIPPED, "detail": "database down"}
            continue
        try:
            problem = check()
        except Exception as exc:  # any failure to answer is "down"; the log keeps the error
            logger.warning("readiness check %s failed: %r", name, exc)
            problem = f"check failed ({type(exc).__name__})"
        checks[name] = {"status": READY} if problem is None else {"status": DOWN, "detail": problem}
    down = [name for name, result in checks.items() if result["status"] == DOWN]
    return {"status": "unavailable" if down else "ready", "down": down, "checks": checks}
