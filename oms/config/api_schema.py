"""The events' part of the OpenAPI schema, wired from the domain apps' payload serializers.

Each aggregate's envelope (``oms.events.models.event_envelope_serializers``) wraps the
payload serializer kept next to the code that builds it (``packages.events``,
``transfers.events``, ``locations.services``). They give the OpenAPI 3.1 ``webhooks``
(one per event type, listed in ``SPECTACULAR_SETTINGS["WEBHOOKS"]``) and the typed items of
``GET /api/v1/events/`` (``EventFeedPageSerializer``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers

from locations.services import STOCK_LOCATION_EVENT_TYPES, StockLocationEventPayloadSerializer
from oms.events.models import event_envelope_serializers
from packages.events import PACKAGE_ENVELOPE_TYPES, PACKAGE_STATUS_TYPES, PackageEventPayloadSerializer
from transfers.events import TRANSFER_ENVELOPE_TYPES, TRANSFER_STATUS_TYPES, TransferEventPayloadSerializer

# ``event.type`` is a per-state type too for a subscription of the per-state style.
PackageEventSerializer, PackageFeedEventSerializer = event_envelope_serializers(
    "Package", types=PACKAGE_ENVELOPE_TYPES, payload=PackageEventPayloadSerializer,
    status_types=PACKAGE_STATUS_TYPES)
TransferEventSerializer, TransferFeedEventSerializer = event_envelope_serializers(
    "Transfer", types=TRANSFER_ENVELOPE_TYPES, payload=TransferEventPayloadSerializer,
    status_types=TRANSFER_STATUS_TYPES)
StockLocationEventSerializer, StockLocationFeedEventSerializer = event_envelope_serializers(
    "StockLocation", types=STOCK_LOCATION_EVENT_TYPES, payload=StockLocationEventPayloadSerializer,
    versioned=False)


class EventFeedPageSerializer(serializers.Serializer):
    """``{"events": [event, …], "next": cursor}``: follow ``next`` (as ``after``) until
    ``events`` is empty."""

    events = PolymorphicProxySerializer(
        component_name="FeedEvent", resource_type_field_name=None, many=True,
        serializers=[PackageFeedEventSerializer, TransferFeedEventSerializer,
                     StockLocationFeedEventSerializer])
    next = serializers.CharField(allow_null=True, help_text="The cursor to pass as `after` next "
                                                            "(null before the first event).")


_RECEIVED = {"2XX": OpenApiResponse(description="Received: any 2xx ends the delivery. Anything "
                                                "else (or no answer in time) is retried with backoff.")}
_SIGNED = ("Sent as `POST` to each active subscription whose `event_types` match, signed per "
           "Standard Webhooks (headers `webhook-id` = `event.uuid`, `webhook-timestamp`, "
           "`webhook-signature`). Deliveries of one aggregate arrive in order; `event.sequence` "
           "orders them too.")


def _webhook(event_type: str, envelope: type[serializers.Serializer], summary: str,
             extra: str = "") -> OpenApiWebhook:
    return OpenApiWebhook(name=event_type, decorator=extend_schema(
        summary=summary, description=f"{summary}. {_SIGNED}{extra}", tags=["webhooks"],
        request=envelope, responses=_RECEIVED))


_PER_STATE = (" `event.status_type` names the new state (`{prefix}.status.<slug>`, e.g. "
              "`{example}`); a subscription may ask for those types alone.")

WEBHOOK_PACKAGE_CREATED = _webhook(
    "package.created", PackageEventSerializer, "A package was created (`transition.action` is `create`)")
WEBHOOK_PACKAGE_TRANSITIONED = _webhook(
    "package.status.transitioned", PackageEventSerializer, "An action ran on a package",
    _PER_STATE.format(prefix="package", example="package.status.shipped"))
WEBHOOK_TRANSFER_CREATED = _webhook(
    "transfer.status.created", TransferEventSerializer, "A transfer was planned")
WEBHOOK_TRANSFER_TRANSITIONED = _webhook(
    "transfer.status.transitioned", TransferEventSerializer, "An action ran on a transfer",
    _PER_STATE.format(prefix="transfer", example="transfer.status.in_transit"))
WEBHOOK_STOCK_LOCATION_CREATED = _webhook(
    "stock_location.created", StockLocationEventSerializer, "A stock location was created")
WEBHOOK_STOCK_LOCATION_UPDATED = _webhook(
    "stock_location.updated", StockLocationEventSerializer, "A stock location was changed")
