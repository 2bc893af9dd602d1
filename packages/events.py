"""The package event types and the body of every package event.

Every event about a package carries ``package_event_payload``; its type is one of
``PACKAGE_EVENT_TYPES`` (the actions name theirs in ``packages.actions``). A
``package.status.transitioned`` event can also be subscribed to as
``package.status.<new state's slug>`` (``PACKAGE_STATUS_EVENT_TYPES``).
"""

from __future__ import annotations

from rest_framework import serializers

from oms.actions.actors import Actor
from oms.events.types import status_event_type, transitioned_event_type
from packages.models import Package, PackageItem, Status, status_dict

EVENT_PREFIX = "package"  # events are about "package" rows: package.status.transitioned, …
PACKAGE_CREATED = "package.created"
PACKAGE_STATUS_TRANSITIONED = transitioned_event_type(EVENT_PREFIX)  # every action that moves the state
PACKAGE_SHIPMENT_UPDATED = "package.shipment.updated"  # update_shipment: carrier, tracking number
PACKAGE_INVOICE_UPDATED = "package.invoice.updated"  # update_invoice
PACKAGE_BLOCKED = "package.blocked"  # block: put on hold, state unchanged
PACKAGE_UNBLOCKED = "package.unblocked"  # unblock: released, state unchanged
PACKAGE_MISSING_ITEMS_REPORTED = "package.missing_items.reported"  # report_missing_items, state unchanged

# Every type a package event is published with.
PACKAGE_EVENT_TYPES: tuple[str, ...] = (
    PACKAGE_CREATED, PACKAGE_STATUS_TRANSITIONED, PACKAGE_SHIPMENT_UPDATED, PACKAGE_INVOICE_UPDATED,
    PACKAGE_BLOCKED, PACKAGE_UNBLOCKED, PACKAGE_MISSING_ITEMS_REPORTED,
)
# The per-state names a ``package.status.transitioned`` event is delivered under as well.
PACKAGE_STATUS_EVENT_TYPES: tuple[str, ...] = tuple(
    status_event_type(EVENT_PREFIX, status.slug) for status in Status)


def package_event_types() -> list[str]:
    """Every public type of package events (registered in ``PackagesConfig.ready``):
    ``PACKAGE_EVENT_TYPES`` and ``package.status.<slug>`` per state."""
    return [*PACKAGE_EVENT_TYPES, *PACKAGE_STATUS_EVENT_TYPES]


def package_hold(package) -> dict | None:
    """``{"reason", "blocked_at" (ISO), "blocked_by"}`` of a blocked package, else None."""
    if package.blocked_at is None:
        return None
    return {"reason": package.block_reason, "blocked_at": package.blocked_at.isoformat(),
            "blocked_by": package.blocked_by}


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
            "invoice_date": package.invoice_date.isoformat() if package.invoice_date else None,
            "blocked": package_hold(package),
            "replaces": package.replaces.number if package.replaces_id else None,
            "split_from": package.split_from.number if package.split_from_id else None,
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


# --- the payload's shape (OpenAPI: the webhooks and the event feed) -------------------------

PACKAGE_STATUS_SLUGS = [status.slug for status in Status]
# Every action a log row or event can name: "create", then the transitions of ``Package``
# (the declared actions; read from the model, which ``packages.actions`` builds on).
PACKAGE_LOG_ACTIONS = ["create", *sorted({t.name for t in Package._meta.get_field("status")
                                          .get_all_transitions(Package)})]
# ``event.status_type`` of a transition (``package.status.shipped``).
PACKAGE_STATUS_TYPES = list(PACKAGE_STATUS_EVENT_TYPES)
# ``event.type`` of the envelope: an event type, or a per-state type (per-state style).
PACKAGE_ENVELOPE_TYPES = [*PACKAGE_EVENT_TYPES, *PACKAGE_STATUS_EVENT_TYPES]


class PackageStatusSerializer(serializers.Serializer):
    """``{"code": 100, "slug": "pending", "label": "Pending"}`` (``status_dict``)."""

    code = serializers.ChoiceField(choices=Status.choices)
    slug = serializers.ChoiceField(choices=PACKAGE_STATUS_SLUGS)
    label = serializers.CharField()


class EventItemSerializer(serializers.Serializer):
    """``{"sku": code, "quantity": units}``."""

    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class PackageEventHoldSerializer(serializers.Serializer):
    """``package_hold``: why and since when a package is blocked, and by whom."""

    reason = serializers.CharField()
    blocked_at = serializers.DateTimeField()
    blocked_by = serializers.CharField()


class PackageEventPackageSerializer(serializers.Serializer):
    """The package as committed by the change."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    order_number = serializers.CharField()
    brand = serializers.CharField(help_text="Brand slug.")
    location = serializers.CharField(help_text="Stock location code.")
    delivery_type = serializers.ChoiceField(choices=Package.DeliveryType.choices)
    status = PackageStatusSerializer()
    version = serializers.IntegerField(min_value=1)
    ship_by = serializers.DateTimeField(allow_null=True)
    carrier = serializers.CharField(allow_blank=True)
    tracking_number = serializers.CharField(allow_blank=True)
    invoice_number = serializers.CharField(allow_blank=True)
    invoice_date = serializers.DateField(allow_null=True)
    blocked = PackageEventHoldSerializer(allow_null=True, help_text="The hold; null when not blocked.")
    replaces = serializers.CharField(allow_null=True, help_text="Number of the package it replaces.")
    items = EventItemSerializer(many=True)


class PackageEventTransitionSerializer(serializers.Serializer):
    """The change: ``action`` (``create`` for a new package), from and to status, who, why."""

    action = serializers.ChoiceField(choices=PACKAGE_LOG_ACTIONS)
    from_status = PackageStatusSerializer(allow_null=True)
    to_status = PackageStatusSerializer()
    actor = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)


class PackageEventPayloadSerializer(serializers.Serializer):
    """``package_event_payload``: ``{"package": {…}, "transition": {…}}``."""

    package = PackageEventPackageSerializer()
    transition = PackageEventTransitionSerializer()
