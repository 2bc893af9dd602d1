"""The body of every package event (``package.created``, ``package.status.transitioned``)."""

from __future__ import annotations

from rest_framework import serializers

from oms.actions.actors import Actor
from oms.events.types import status_event_types
from packages.models import Package, PackageItem, Status, status_dict

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


# --- the payload's shape (OpenAPI: the webhooks and the event feed) -------------------------

PACKAGE_STATUS_SLUGS = [status.slug for status in Status]
# Every action a log row or event can name: "create", then the transitions of ``Package``
# (the declared actions; read from the model, which ``packages.actions`` builds on).
PACKAGE_LOG_ACTIONS = ["create", *sorted({t.name for t in Package._meta.get_field("status")
                                          .get_all_transitions(Package)})]
PACKAGE_EVENT_TYPES = ["package.created", "package.status.transitioned"]
# ``event.status_type`` of a delivery matched by a per-state subscription (``package.status.shipped``).
PACKAGE_STATUS_TYPES = [f"package.status.{slug}" for slug in PACKAGE_STATUS_SLUGS]
# ``event.type`` of the envelope: an event type, or a per-state type (per-state style).
PACKAGE_ENVELOPE_TYPES = PACKAGE_EVENT_TYPES + PACKAGE_STATUS_TYPES


class PackageStatusSerializer(serializers.Serializer):
    """``{"code": 100, "slug": "pending", "label": "Pending"}`` (``status_dict``)."""

    code = serializers.ChoiceField(choices=Status.choices)
    slug = serializers.ChoiceField(choices=PACKAGE_STATUS_SLUGS)
    label = serializers.CharField()


class EventItemSerializer(serializers.Serializer):
    """``{"sku": code, "quantity": units}``."""

    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


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
