"""Record a run of a recurring job (``JobRun``): one statement, outside any lock a job holds."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from oms.observability.models import JobRun


def job_run_record(*, job: str, key: str = "", items: int = 0, at: dt.datetime | None = None) -> None:
    """Count one run of ``job`` for ``key``: ``runs`` +1, ``items`` + ``items``,
    ``last_run_at`` = ``at`` (default now).

    One ``UPDATE`` (an ``INSERT`` the first time; a concurrent first insert is caught by the
    unique constraint and turned into the update). Runs in the caller's transaction if any.
    """
    at = at or timezone.now()
    rows = JobRun.objects.filter(job=job, key=key)
    changes = {"runs": F("runs") + 1, "items": F("items") + items, "last_run_at": at}
    if rows.update(**changes):
        return
    try:
        with transaction.atomic():
            JobRun.objects.create(job=job, key=key, runs=1, items=items, last_run_at=at)
    except IntegrityError:
        rows.update(**changes)


def job_runs(*, jobs: list[str]) -> list[JobRun]:
    """Return the run records of ``jobs`` (every key), ordered by job and key. 1 query."""
    return list(JobRun.objects.filter(job__in=jobs).order_by("job", "key"))
