"""The body of every transfer event (``transfer.status.created``, ``transfer.status.transitioned``)."""

from __future__ import annotations

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
