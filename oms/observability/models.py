"""Run records of recurring jobs: one row per job and key, counted where the job runs."""

from django.db import models


class JobRun(models.Model):
    """The last run and running totals of one recurring job (or one key of it).

    ``job`` names the job (``"heartbeat"``, ``"package_recheck_due"``), ``key`` what it ran
    for (a process kind, a brand slug; ``""`` for none). ``runs`` counts runs, ``items`` what
    they did (e.g. packages rescheduled); both only grow, so they read as Prometheus counters.
    Written by ``oms.observability.jobs.job_run_record``; read by ``/readyz`` and ``/metrics``.
    """

    job = models.CharField(max_length=100)
    key = models.CharField(max_length=100, blank=True)
    runs = models.PositiveBigIntegerField(default=0)
    items = models.PositiveBigIntegerField(default=0)
    last_run_at = models.DateTimeField()

    class Meta:
        ordering = ["job", "key"]
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="job_run_job_key_uniq")]

    def __str__(self) -> str:
        return f"{self.job}[{self.key}] × {self.runs}, last {self.last_run_at:%Y-%m-%d %H:%M:%S}"
