"""OpenAPI generation (drf-spectacular): error responses on every operation, strict bodies.

Every operation documents the error statuses it can answer with the shared error
components, so clients and schemathesis know them: 400, 401, 403, 404 and 429 (with
``Retry-After``) everywhere; 409, 412, 415 and 422 on POST. Input serializers deriving from
``StrictInputSerializer`` are published with ``additionalProperties: false`` (the API refuses
unknown fields).
"""

from __future__ import annotations

import datetime as dt

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes
from rest_framework import serializers

from oms.actions.inputs import StrictInputSerializer


class ErrorSerializer(serializers.Serializer):
    """``{"code": str, "detail": str, ...}``: every error body (extra keys depend on ``code``)."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. 'not_found'.")
    detail = serializers.CharField(help_text="Human-readable explanation.")


class ValidationErrorSerializer(ErrorSerializer):
    """400: ``errors`` maps each field (or row index) to its messages."""

    errors = serializers.JSONField(required=False, help_text="{field: [message, …]}")
    field = serializers.CharField(required=False, help_text="The field a domain rule refused.")


class ConflictErrorSerializer(ErrorSerializer):
    """409: ``transition_not_allowed`` carries the package's or transfer's current status and
    the actions allowed now; ``insufficient_stock`` carries ``shortages``."""

    action = serializers.CharField(required=False)
    current_status = serializers.JSONField(required=False)
    allowed_actions = serializers.ListField(child=serializers.CharField(), required=False)
    shortages = serializers.JSONField(required=False)


class PreconditionErrorSerializer(ErrorSerializer):
    """412: ``If-Match`` named another version than the current one."""

    current_version = serializers.IntegerField()


class ThrottledErrorSerializer(ErrorSerializer):
    """429: over the token's (or, without a valid token, the address's) rate."""

    retry_after_seconds = serializers.IntegerField(
        required=False, help_text="Seconds to wait before retrying (also the Retry-After header).")


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="1–255 printable ASCII characters (e.g. a UUID). Resending the same key with "
                "the same body replays the first response without acting again (header "
                "Idempotent-Replayed: true); the same key with another body answers 422.",
)

_COMMON_ERRORS = {
    "400": (ValidationErrorSerializer, "Invalid input (field errors in `errors`)."),
    "401": (ErrorSerializer, "Missing, unknown or revoked token."),
    "403": (ErrorSerializer, "Read-only token writing, or an action this client may not run."),
    "404": (ErrorSerializer, "Not found, or outside the token's stock locations."),
    "429": (ThrottledErrorSerializer, "Too many requests for this token (or, without a valid "
                                      "token, this address); retry after Retry-After seconds."),
}
_POST_ERRORS = {
    "409": (ConflictErrorSerializer, "Not allowed in the current state (nothing was changed)."),
    "412": (PreconditionErrorSerializer, "If-Match does not match the current version."),
    "415": (ErrorSerializer, "The body is not JSON."),
    "422": (ErrorSerializer, "Idempotency-Key reused with another request."),
}


class UtcDateTimeField(serializers.DateTimeField):
    """A time in the API's answers: ISO 8601 in UTC (``2026-11-30T07:40:40.956332Z``),
    whichever time zone is active (DRF's ``default_timezone``; it also spares a look-up of
    the active time zone per field and object)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(**kwargs)


class StrictCharField(serializers.CharField):
    """A ``CharField`` that accepts only JSON strings (DRF would turn ``12`` into ``"12"``)
    and applies ``max_length`` to the string as sent, before trimming whitespace."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictURLField(StrictCharField, serializers.URLField):
    """A ``URLField`` with the checks of ``StrictCharField``."""


class StrictIntegerField(serializers.IntegerField):
    """An ``IntegerField`` that accepts only JSON integers (not ``"5"``, ``5.0`` or ``true``)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A ``BooleanField`` that accepts only JSON ``true`` and ``false`` (DRF would also take
    ``0``, ``1``, ``"0"``, ``"false"``, ``"yes"``, ``"on"``, …)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class OmsAutoSchema(AutoSchema):
    """AutoSchema adding the shared error responses and ``additionalProperties: false``."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(_COMMON_ERRORS)
        if self.method == "POST":
            errors.update(_POST_ERRORS)
        for code, (serializer, description) in errors.items():
            if code not in responses:
                response = self._get_response_for_code(serializer, code, direction=direction)
                response["description"] = description
                if code == "429":
                    response["headers"] = {"Retry-After": {
                        "schema": {"type": "integer"}, "description": "Seconds to wait."}}
                responses[code] = response
        return responses

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, StrictInputSerializer) or (
            isinstance(serializer, type) and issubclass(serializer, StrictInputSerializer)
        ):
            schema["additionalProperties"] = False
        return schema
