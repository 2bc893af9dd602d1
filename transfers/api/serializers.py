"""Transfer API serializers: per-action input (the declared inputs of
``transfers.actions``, one OpenAPI component each) and output.

A transfer status is ``{"slug": "in_transit", "label": "In Transit"}``
(``transfers.models.transfer_status_dict``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from oms.actions.inputs import StrictInputSerializer
from oms.api.schema import conflict_error_serializer
from transfers.actions import ACTIONS
from transfers.engine import transfer_allowed_actions
from transfers.events import TRANSFER_LOG_ACTIONS, TransferStatusSerializer
from transfers.models import Status, transfer_status_dict


def action_field(**kwargs) -> serializers.ChoiceField:
    """A transfer action (``TransferActionEnum``); API tokens may run each of them."""
    return serializers.ChoiceField(choices=list(ACTIONS), **kwargs)


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


class TransferLogPayloadSerializer(serializers.Serializer):
    """What an action recorded besides its reason: ``dispatch`` the carrier and tracking
    number, ``receive`` whether the units were reserved for the waiting package,
    ``confirm_cancellation`` the state before the request; ``{}`` for the others."""

    carrier = serializers.CharField(required=False)
    tracking_number = serializers.CharField(required=False)
    reserved_for_package = serializers.BooleanField(required=False)
    status_before_request = serializers.ChoiceField(choices=Status.choices, required=False)


@extend_schema_field(TransferLogPayloadSerializer)
class TransferLogPayloadField(serializers.JSONField):
    """A log row's payload as stored (its shape: ``TransferLogPayloadSerializer``)."""


class TransferTransitionOutputSerializer(serializers.Serializer):
    """One row of the transfer's transition log (``from_status`` null for ``create``)."""

    action = serializers.ChoiceField(choices=TRANSFER_LOG_ACTIONS, help_text="The action, or `create`.")
    from_status = TransferStatusField(allow_null=True)
    to_status = TransferStatusField()
    actor = serializers.CharField()
    reason = serializers.CharField()
    payload = TransferLogPayloadField()
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

    @extend_schema_field(serializers.ListField(child=action_field()))
    def get_allowed_actions(self, transfer) -> list[str]:
        """The actions an integrator may run now: allowed by the state, on the end each
        needs (``Action.side``) in the caller's scope (``context["location_ids"]``: None or
        absent for every location)."""
        return transfer_allowed_actions(transfer, actor_kind="api",
                                        location_ids=self.context.get("location_ids"))


class TransferDetailOutputSerializer(TransferOutputSerializer):
    """A transfer with its transition log."""

    transitions = TransferTransitionOutputSerializer(many=True)


TransferConflictErrorSerializer = conflict_error_serializer(
    "TransferConflictErrorSerializer", status=TransferStatusSerializer, action=action_field)


def _named(action: str) -> type[StrictInputSerializer]:
    """The action's declared input under a per-action name (one OpenAPI component each);
    its ``validated_data`` are the action's keyword arguments."""
    camel = "".join(part.title() for part in action.split("_"))
    base = ACTIONS[action].input
    return type(f"Transfer{camel}Serializer", (base,), {"__doc__": base.__doc__,
                                                             "__module__": __name__})


TRANSFER_ACTION_INPUT_SERIALIZERS: dict[str, type[StrictInputSerializer]] = {
    name: _named(name) for name in ACTIONS}
