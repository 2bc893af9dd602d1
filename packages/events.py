"""The body of every package event (``package.created``, ``package.status.transitioned``)."""

from __future__ import annotations

from oms.actions.actors import Actor
from oms.events.types import status_event_types
from packages.models import PackageItem, Status, status_dict

EVENT_PREFIX = "package"  # events are about "package" rows: package.status.transitioned, …
PACKAGE_CREATED = "package.created"


def package_event_types() -> list[str]:
    """Every public type of package events: ``package.created``,
    ``package.status.transitioned`` and ``package.status.<slug>`` per state."""
    return [PACKAGE_CREATED, *status_event_types(EVENT_PREFIX, (status.slug for status in Status))]


def package_event_payload(package, *, action: str, from_status: int | None,
                          actor: Actor, reason: str = "", items: list[dict] | None = None) -> dict:
    """Return the JSON-safe event payload: the committed package and the transition.

    ``items`` (``[{"sku", "quantity"}]``) may be given by a caller that has them; else the
    package's prefetched ``items`` are used when it has them (prefetched in id order with
    ``select_related("sku")``, e.g. through ``packages=`` of an action service), or they are
    read (1 query).
    """
    if items is None:
        prefetched = getattr(package, "_prefetched_objects_cache", {}).get("items")
        if prefetched is not None:
            items = [{"sku": item.sku.code, "quantity": item.quantity} for item in prefetched]
        else:
            items = [
                {"sku": code, "quantity": quantity}
                for code, quantity in PackageItem.objects.filter(package=package)
                .order_by("id").values_list("sku__code", "quantity")
            ]
    return {
        "package": {
            "id": package.pk,
            "number": package.number,
            "order_number": package.order_number,
            "brand": package.brand.slug,
            "location": package.location.code,
            "delivery_type": package.delivery_type,
            "status": status_dict(package.status),
            "version": package.version,
            "ship_by": package.ship_by.isoformat() if package.ship_by else None,
            "carrier": package.carrier,
            "tracking_number": package.tracking_number,
            "invoice_number": package.invoice_number,
            "replaces": package.replaces.number if package.replaces_id else None,
            "items": items,
        },
        "transition": {
            "action": action,
            "from_status": status_dict(from_status) if from_status is not None else None,
            "to_status": status_dict(package.status),
            "actor": str(actor),
            "reason": reason,
        },
    }


