"""Transfer API serializers: per-action input (strict) and output.

A transfer status is ``{"slug": "in_transit", "label": "In Transit"}``
(``transfers.models.transfer_status_dict``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from oms.api_schema import StrictCharField, StrictInputSerializer
from transfers.models import TRANSFER_ACTIONS, Status, transfer_status_dict
from transfers.services import transfer_actions_for_locations


class TransferStatusSerializer(serializers.Serializer):
    """``{"slug": "in_transit", "label": "In Transit"}``."""

    slug = serializers.ChoiceField(choices=Status.values)
    label = serializers.CharField()


@extend_schema_field(TransferStatusSerializer)
class TransferStatusField(serializers.Field):
    """A transfer status slug rendered as ``{"slug", "label"}`` (read-only)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return transfer_status_dict(value)


class TransferItemOutputSerializer(serializers.Serializer):
    """``{"sku": code, "quantity": units}``."""

    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()


class TransferTransitionOutputSerializer(serializers.Serializer):
    """One row of the transfer's transition log (``from_status`` null for ``create``)."""

    action = serializers.CharField()
    from_status = TransferStatusField(allow_null=True)
    to_status = TransferStatusField()
    actor = serializers.CharField()
    reason = serializers.CharField()
    payload = serializers.JSONField()
    created_at = serializers.DateTimeField()


class TransferOutputSerializer(serializers.Serializer):
    """A transfer: the package it serves, source → destination, items, allowed actions.

    Needs ``package``/``source``/``destination`` selected and ``items__sku`` prefetched.
    """

    number = serializers.CharField()
    package = serializers.CharField(source="package.number")
    source = serializers.CharField(source="source.code")
    destination = serializers.CharField(source="destination.code")
    status = TransferStatusField()
    version = serializers.IntegerField()
    status_changed_at = serializers.DateTimeField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    items = TransferItemOutputSerializer(many=True)
    allowed_actions = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(TRANSFER_ACTIONS))))
    def get_allowed_actions(self, transfer) -> list[str]:
        """The actions the state allows on the side(s) in the caller's scope
        (``context["location_ids"]``: None or absent for every location)."""
        return transfer_actions_for_locations(transfer, location_ids=self.context.get("location_ids"))


class TransferDetailOutputSerializer(TransferOutputSerializer):
    """A transfer with its transition log."""

    transitions = TransferTransitionOutputSerializer(many=True)


class TransferActionInputSerializer(StrictInputSerializer):
    """Base of the per-action bodies (``service_kwargs()`` → the service's arguments)."""

    def service_kwargs(self) -> dict:
        return dict(self.validated_data)


class TransferNoInputSerializer(TransferActionInputSerializer):
    """No parameters: send ``{}`` or no body."""


class TransferReasonInputSerializer(TransferActionInputSerializer):
    """``{"reason": str (optional, <= 255)}``, stored in the transition log."""

    reason = StrictCharField(max_length=255, required=False, allow_blank=True)


class TransferDispatchInputSerializer(TransferActionInputSerializer):
    """``{"carrier": str, "tracking_number": str}``, both optional (<= 64 characters)."""

    carrier = StrictCharField(max_length=64, required=False, allow_blank=True)
    tracking_number = StrictCharField(max_length=64, required=False, allow_blank=True)


_BASE_FOR_ACTION = {
    "ready_for_dispatch": TransferNoInputSerializer,
    "dispatch": TransferDispatchInputSerializer,
    "receive": TransferNoInputSerializer,
    "cancel": TransferReasonInputSerializer,
    "request_cancellation": TransferReasonInputSerializer,
    "confirm_cancellation": TransferReasonInputSerializer,
    "reject_cancellation": TransferReasonInputSerializer,
}


def _named(action: str) -> type:
    camel = "".join(part.title() for part in action.split("_"))
    base = _BASE_FOR_ACTION[action]
    return type(f"Transfer{camel}InputSerializer", (base,), {"__doc__": base.__doc__,
                                                             "__module__": __name__})


TRANSFER_ACTION_INPUT_SERIALIZERS = {name: _named(name) for name in TRANSFER_ACTIONS}
