"""Brand (sales channel) settings."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from packages.actions import ACTIONS
from packages.models import Brand, Package, Status


@transaction.atomic
def brand_update(*, brand: Brand, **changes) -> Brand:
    """Save changed settings of ``brand`` (admin, API).

    ``changes`` are Brand field values. A new ``recheck_interval_minutes`` applies at once:
    the next check of the brand's out-of-stock packages moves to their last check plus the
    new interval (packages never checked become due now).
    Raises ``django.core.exceptions.ValidationError`` for invalid values (e.g. an unknown
    action in ``disabled_actions``).
    """
    old_interval = (Brand.objects.filter(pk=brand.pk).values_list("recheck_interval_minutes", flat=True)
                    .first() if brand.pk else None)
    for name, value in changes.items():
        setattr(brand, name, value)
    brand.full_clean()
    try:
        brand_check_disabled_actions(brand.disabled_actions)
    except ValidationError as exc:
        raise ValidationError({"disabled_actions": exc.messages}) from None
    brand.save()
    if old_interval is not None and old_interval != brand.recheck_interval_minutes:
        waiting = Package.objects.filter(brand=brand, status=Status.PRODUCT_OUT_OF_STOCK)
        interval = dt.timedelta(minutes=brand.recheck_interval_minutes)
        waiting.filter(stock_checked_at__isnull=False).update(
            next_stock_check_at=F("stock_checked_at") + interval)
        waiting.filter(stock_checked_at__isnull=True).update(next_stock_check_at=timezone.now())
    return brand


def brand_check_disabled_actions(names: list[str]) -> None:
    """Refuse names that are not switchable actions (``packages.actions.ACTIONS``).
    Raises ``ValidationError``."""
    switchable = {name for name, action in ACTIONS.items() if action.switchable}
    unknown = sorted(set(names) - switchable)
    if unknown:
        raise ValidationError(f"Unknown or non-switchable actions: {', '.join(unknown)}. "
                              f"Choose from: {', '.join(sorted(switchable))}.")
