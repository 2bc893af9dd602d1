"""Prometheus series of packages, computed from the database at scrape time (registered by
``PackagesConfig.ready``; served at ``/metrics`` by ``oms.observability``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from oms.observability.jobs import job_runs
from packages.models import FINAL_STATES, HOLDABLE_STATES, Brand, Package, Status
from packages.rescheduling import RECHECK_JOBS

OPEN_STATES = [status for status in Status if status not in FINAL_STATES]


class PackageCollector:
    """Open and blocked packages per state, re-check lag per brand, re-check runs (four
    indexed queries)."""

    def collect(self) -> Iterable[Metric]:
        now = timezone.now()
        yield from self._open_packages()
        brands = {pk: (slug, disabled) for pk, slug, disabled
                  in Brand.objects.values_list("pk", "slug", "disabled_actions")}
        yield self._recheck_lag(brands, now)
        yield from self._recheck_runs()

    def _open_packages(self) -> Iterable[Metric]:
        rows = (Package.objects.filter(status__in=OPEN_STATES).values_list("status")
                .annotate(n=Count("*"), blocked=Count("pk", filter=Q(blocked_at__isnull=False)))
                .order_by())
        counts = {status: (n, blocked) for status, n, blocked in rows}
        family = GaugeMetricFamily("oms_packages_open", "Packages in each state that is not final.",
                                   labels=["state"])
        held = GaugeMetricFamily(
            "oms_packages_blocked",
            "Blocked packages (on hold) in each state a package may be blocked in; also counted "
            "in oms_packages_open.", labels=["state"])
        for status in OPEN_STATES:
            n, blocked = counts.get(status, (0, 0))
            family.add_metric([status.slug], n)
            if status in HOLDABLE_STATES:
                held.add_metric([status.slug], blocked)
        yield from (family, held)

    def _recheck_lag(self, brands: dict, now) -> Metric:
        """Per brand that reschedules automatically: seconds since the oldest due re-check
        of a Product Out of Stock package was due (0 when none is due). Blocked packages
        are left out, as the re-check passes them over. The partial index of due re-checks
        answers it."""
        due_since = dict(
            Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK, blocked_at__isnull=True)
            .filter(Q(next_stock_check_at__lte=now) | Q(next_stock_check_at__isnull=True))
            .values_list("brand_id")
            .annotate(oldest=Min(Coalesce("next_stock_check_at", "status_changed_at"))).order_by()
        )
        family = GaugeMetricFamily(
            "oms_package_recheck_lag_seconds",
            "Seconds the oldest due re-check of an out-of-stock package is late (0: none due), "
            "per brand with automatic rescheduling on.", labels=["brand"])
        for pk, (slug, disabled) in sorted(brands.items(), key=lambda item: item[1][0]):
            if "reschedule" in (disabled or []):
                continue
            oldest = due_since.get(pk)
            family.add_metric([slug], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        return family

    def _recheck_runs(self) -> Iterable[Metric]:
        labels = ["brand", "trigger"]
        runs = CounterMetricFamily("oms_package_recheck_runs", "Completed re-check runs.", labels=labels)
        rescheduled = CounterMetricFamily(
            "oms_package_recheck_rescheduled", "Packages the re-check rescheduled.", labels=labels)
        last = GaugeMetricFamily("oms_package_recheck_last_run_timestamp_seconds",
                                 "Unix time the last re-check run ended.", labels=labels)
        trigger_of = {job: trigger for trigger, job in RECHECK_JOBS.items()}
        for run in job_runs(jobs=list(RECHECK_JOBS.values())):
            values = [run.key, trigger_of[run.job]]
            runs.add_metric(values, run.runs)
            rescheduled.add_metric(values, run.items)
            last.add_metric(values, run.last_run_at.timestamp())
        yield from (runs, rescheduled, last)
