"""The body of every transfer event (``transfer.status.created``, ``transfer.status.transitioned``)."""

from __future__ import annotations

from rest_framework import serializers

from oms.actions.actors import Actor
from oms.events.types import status_event_types
from transfers.models import Status, Transfer, TransferItem, transfer_status_dict

EVENT_PREFIX = "transfer"  # events are about "transfer" rows: transfer.status.transitioned, …
TRANSFER_CREATED = "transfer.status.created"


def transfer_event_types() -> list[str]:
    """Every public type of transfer events: ``transfer.status.created``,
    ``transfer.status.transitioned`` and ``transfer.status.<slug>`` per state."""
    return [TRANSFER_CREATED, *status_event_types(EVENT_PREFIX, Status.values)]


def transfer_event_payload(transfer: Transfer, *, action: str, from_status: str | None,
                           actor: Actor, reason: str = "") -> dict:
    """Return the JSON-safe event payload: the committed transfer and the transition.

    ``payload["transfer"]["status"]["slug"]`` is the new state's slug. Reads
    ``transfer.package``, ``.source`` and ``.destination`` (select them to save queries) and
    its items: the prefetched ones when they are (in id order, with ``sku``, as the engine
    locks them), else 1 query.
    """
    prefetched = getattr(transfer, "_prefetched_objects_cache", {}).get("items")
    if prefetched is not None:
        items = [{"sku": item.sku.code, "quantity": item.quantity} for item in prefetched]
    else:
        items = [
            {"sku": code, "quantity": quantity}
            for code, quantity in TransferItem.objects.filter(transfer=transfer)
            .order_by("id").values_list("sku__code", "quantity")
        ]
    return {
        "transfer": {
            "id": transfer.pk,
            "number": transfer.number,
            "package": transfer.package.number,
            "source": transfer.source.code,
            "destination": transfer.destination.code,
            "status": transfer_status_dict(transfer.status),
            "version": transfer.version,
            "carrier": transfer.carrier,
            "tracking_number": transfer.tracking_number,
            "items": items,
        },
        "transition": {
            "action": action,
            "from_status": transfer_status_dict(from_status) if from_status is not None else None,
            "to_status": transfer_status_dict(transfer.status),
            "actor": str(actor),
            "reason": reason,
        },
    }


# --- the payload's shape (OpenAPI: the webhooks and the event feed) -------------------------

# Every action a log row or event can name: "create", then the transitions of ``Transfer``.
TRANSFER_LOG_ACTIONS = ["create", *sorted({t.name for t in Transfer._meta.get_field("status")
                                           .get_all_transitions(Transfer)})]
TRANSFER_EVENT_TYPES = ["transfer.status.created", "transfer.status.transitioned"]
# ``event.status_type`` of a delivery matched by a per-state subscription (``transfer.status.in_transit``).
TRANSFER_STATUS_TYPES = [f"transfer.status.{slug}" for slug in Status.values]
# ``event.type`` of the envelope: an event type, or a per-state type (per-state style).
TRANSFER_ENVELOPE_TYPES = TRANSFER_EVENT_TYPES + TRANSFER_STATUS_TYPES


class TransferStatusSerializer(serializers.Serializer):
    """``{"slug": "in_transit", "label": "In Transit"}`` (``transfer_status_dict``)."""

    slug = serializers.ChoiceField(choices=Status.choices)
    label = serializers.CharField()


class TransferEventItemSerializer(serializers.Serializer):
    """``{"sku": code, "quantity": units}``."""

    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class TransferEventTransferSerializer(serializers.Serializer):
    """The transfer as committed by the change."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    package = serializers.CharField(help_text="Number of the package it brings units for.")
    source = serializers.CharField(help_text="Stock location code sending the units.")
    destination = serializers.CharField(help_text="Stock location code receiving them.")
    status = TransferStatusSerializer()
    version = serializers.IntegerField(min_value=1)
    carrier = serializers.CharField(allow_blank=True)
    tracking_number = serializers.CharField(allow_blank=True)
    items = TransferEventItemSerializer(many=True)


class TransferEventTransitionSerializer(serializers.Serializer):
    """The change: ``action`` (``create`` for a new transfer), from and to status, who, why."""

    action = serializers.ChoiceField(choices=TRANSFER_LOG_ACTIONS)
    from_status = TransferStatusSerializer(allow_null=True)
    to_status = TransferStatusSerializer()
    actor = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)


class TransferEventPayloadSerializer(serializers.Serializer):
    """``transfer_event_payload``: ``{"transfer": {…}, "transition": {…}}``."""

    transfer = TransferEventTransferSerializer()
    transition = TransferEventTransitionSerializer()
