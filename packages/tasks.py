"""Celery tasks of packages: they take ids, call one service, and are idempotent."""

from __future__ import annotations

from celery import shared_task

from packages.models import Brand
from packages.rescheduling import package_recheck_after_stock_rise, package_recheck_out_of_stock


@shared_task(time_limit=600, soft_time_limit=570)
def package_recheck_due_task() -> dict:
    """Beat job (every minute): re-check every brand's due out-of-stock packages.

    Each brand's own interval decides when a package is due (``next_stock_check_at``), so
    an administrator's change of the interval applies from the next check on, no restart.
    Returns ``{brand_slug: rescheduled_count}``.
    """
    summary = {}
    for brand_id, slug in Brand.objects.order_by("pk").values_list("pk", "slug"):
        summary[slug] = len(package_recheck_out_of_stock(brand_id=brand_id).rescheduled)
    return summary


@shared_task(time_limit=300, soft_time_limit=270)
def package_recheck_for_stock_task(location_id: int, sku_ids: list[int]) -> int:
    """Stock of ``sku_ids`` rose at ``location_id``: re-check the packages waiting on it now."""
    return len(package_recheck_after_stock_rise(location_id=location_id, sku_ids=sku_ids).rescheduled)
