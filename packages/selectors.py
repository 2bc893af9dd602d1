"""Reads used by the API, the operator screens and tasks. No writes here."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from packages.models import Package, PackageItem, PackageTransition, Status


def package_list() -> QuerySet[Package]:
    """Return packages with brand and location joined (filter and order at the caller)."""
    return Package.objects.select_related("brand", "location")


def package_get(*, number: str) -> Package:
    """Return the package ``number`` with brand, location, items (+SKU) and transition log
    prefetched. Raises ``Package.DoesNotExist``."""
    return (
        Package.objects.select_related("brand", "location", "replaces", "replacement",
                                       "denial_reason")
        .prefetch_related(
            Prefetch("items", queryset=PackageItem.objects.select_related("sku").order_by("id")),
            Prefetch("transitions", queryset=PackageTransition.objects.order_by("id")),
        )
        .get(number=number)
    )


def package_counts_by_status(*, location_id: int | None = None) -> dict[int, int]:
    """Return ``{status_code: count}`` with every one of the 17 codes (zeros included). 1 query."""
    qs = Package.objects.all()
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    counts = dict(qs.values_list("status").annotate(n=Count("pk")).order_by())
    return {code: counts.get(code, 0) for code in Status.values}


def package_waiting_reason(package: Package) -> dict | None:
    """Explain why ``package`` waits where it waits, or None when it does not wait.

    Shapes:
    * Product Out of Stock: ``{"kind": "out_of_stock", "shortage": "short: SKU X needs 2, has 0",
      "last_checked_at": iso|None, "next_check_at": iso|None}``;
    * Pending Transfer: ``{"kind": "transfers", "open_transfers": [{"number", "status",
      "source", "items": [{"sku", "quantity"}]}]}`` (1 query);
    * To Be Rescheduled: ``{"kind": "needs_new_location", "denial_reason": str|None}``;
    * Pending Cancellation: ``{"kind": "cancellation_requested", "reason": str}``.
    """
    status = package.status
    if status == Status.PRODUCT_OUT_OF_STOCK:
        return {
            "kind": "out_of_stock",
            "shortage": package.stock_shortage,
            "last_checked_at": package.stock_checked_at.isoformat() if package.stock_checked_at else None,
            "next_check_at": (package.next_stock_check_at.isoformat()
                              if package.next_stock_check_at else None),
        }
    if status == Status.PENDING_TRANSFER:
        from transfers.models import OPEN_STATES, Transfer

        transfers = (Transfer.objects.filter(package=package, status__in=OPEN_STATES)
                     .select_related("source").prefetch_related("items__sku").order_by("pk"))
        return {
            "kind": "transfers",
            "open_transfers": [
                {"number": t.number, "status": t.status, "source": t.source.code,
                 "items": [{"sku": i.sku.code, "quantity": i.quantity} for i in t.items.all()]}
                for t in transfers
            ],
        }
    if status == Status.TO_BE_RESCHEDULED:
        return {"kind": "needs_new_location",
                "denial_reason": package.denial_reason.title if package.denial_reason_id else None}
    if status == Status.PENDING_CANCELLATION:
        return {"kind": "cancellation_requested", "reason": package.cancellation_reason}
    return None
