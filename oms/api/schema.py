"""OpenAPI generation (drf-spectacular): error responses and headers on every operation,
strict bodies, and the fields the API's serializers share.

Every operation documents the error statuses it can answer, each with the one error shape
(``ErrorSerializer`` and its refinements): 400, 401 and 429 everywhere; 403 on writes and
on the staff-only endpoints; 404 where the path names a row; 409, 413 and 415 where a body
is sent; 412 where ``If-Match`` is read; 422 where ``Idempotency-Key`` is. Response headers:
``WWW-Authenticate`` on 401, ``Retry-After`` on 429, ``Idempotent-Replayed`` where
``Idempotency-Key`` is read; views declare ``ETag`` and ``Location``. Input serializers
deriving from ``StrictInputSerializer`` are published with ``additionalProperties: false``
(the API refuses unknown fields).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable

from django.core.validators import RegexValidator, URLValidator
from django.utils.dateparse import parse_datetime
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes
from rest_framework import serializers

from oms.actions.inputs import StrictInputSerializer

IDEMPOTENCY_KEY_MAX_LENGTH = 255
# A package, transfer or stock location code in a path (``oms.api.converters.NumberConverter``).
NUMBER_PATTERN = r"^[^/\u0000-\u001f\u007f]{1,100}$"


# --- error bodies --------------------------------------------------------------------------

class FieldErrorsField(serializers.DictField):
    """``{field: [message, …]}``; a nested field is named by its path (``items.0.sku``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.ListField(child=serializers.CharField()))
        kwargs.setdefault("help_text", "Messages per field; a nested field is named by its path, "
                                       "e.g. `items.0.sku` (row 0 of `items`).")
        super().__init__(**kwargs)


class ErrorSerializer(serializers.Serializer):
    """Every error body: ``{"code": str, "detail": str, "errors"?: {field: [str]}, …}``;
    the extra keys depend on ``code`` (see the refinements per status)."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `not_found`.")
    detail = serializers.CharField(help_text="Human-readable explanation.")
    errors = FieldErrorsField(required=False)


class ValidationErrorSerializer(ErrorSerializer):
    """400: ``code`` ``invalid`` with the messages per field in ``errors`` (``field`` names the
    field a domain rule refused), or ``parse_error`` for a body that is not JSON."""

    field = serializers.CharField(required=False, help_text="The field a domain rule refused.")


class PreconditionErrorSerializer(ErrorSerializer):
    """412 ``version_mismatch``: ``If-Match`` named another version than ``current_version``."""

    current_version = serializers.IntegerField(min_value=1, help_text="The row's version now.")


class ThrottledErrorSerializer(ErrorSerializer):
    """429: over the token's (or, without a valid token, the address's) rate."""

    retry_after_seconds = serializers.IntegerField(
        required=False, help_text="Seconds to wait before retrying (also the Retry-After header).")


class ShortageSerializer(serializers.Serializer):
    """``{"sku": code, "needed": units, "available": units}``: a SKU the location lacks."""

    sku = serializers.CharField()
    needed = serializers.IntegerField(min_value=1)
    available = serializers.IntegerField(min_value=0)


def conflict_error_serializer(name: str, *, status: type[serializers.Serializer],
                              action: Callable[..., serializers.Field]) -> type[ErrorSerializer]:
    """The 409 body of one aggregate's actions (one OpenAPI component, ``name``):
    ``transition_not_allowed`` (and the rules' own codes) carry ``action``, ``current_status``
    (a ``status``) and ``allowed_actions`` (each an ``action()`` field);
    ``insufficient_stock`` carries ``shortages``."""
    fields = {
        "action": action(required=False, help_text="The action refused."),
        "current_status": status(required=False),
        "allowed_actions": serializers.ListField(child=action(), required=False,
                                                 help_text="What this client may run now."),
        "shortages": ShortageSerializer(many=True, required=False),
    }
    return type(name, (ErrorSerializer,), {
        **fields, "__module__": __name__,
        "__doc__": "409: the action is not allowed now (nothing was changed). `code`: "
                   "`transition_not_allowed` or a rule's own code (with `action`, "
                   "`current_status`, `allowed_actions`), `insufficient_stock` (with "
                   "`shortages`), `idempotency_request_in_progress`.",
    })


# --- headers -------------------------------------------------------------------------------

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                        "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"},
    OpenApiParameter.HEADER, required=False,
    description=f"1–{IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters (e.g. a UUID). "
                "Resending the same key with the same body replays the first response without "
                "acting again (header Idempotent-Replayed: true); the same key with another body "
                "answers 422.",
)


def etag_header(entity: str) -> OpenApiParameter:
    """The ``ETag`` response header of an answer carrying one ``entity`` row."""
    return OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 201],
                            required=True, pattern=r'^"[0-9]+"$',
                            description=f'The {entity} version, e.g. "3": send it in If-Match.')


def if_match_parameter(entity: str) -> OpenApiParameter:
    """The optional ``If-Match`` request header of an action on one ``entity``."""
    return OpenApiParameter(
        "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
        description=f'Act only if the {entity} is still at this version: its ETag (`"3"`), '
                    '`W/"3"`, `3`, several comma-separated, or `*`. Otherwise 412 and nothing '
                    "changes.")


LOCATION_HEADER = OpenApiParameter("Location", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                   response=[201], required=True,
                                   description="The path of the row created.")

_RESPONSE_HEADERS = {
    "401": {"WWW-Authenticate": {
        "schema": {"type": "string"}, "required": True,
        "description": 'The scheme to use: `Bearer realm="api"`.'}},
    "429": {"Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before the next request."}},
}
_REPLAYED_HEADER = {"Idempotent-Replayed": {
    "schema": {"type": "string", "enum": ["true"]},
    "description": "Present on the stored response replayed for a repeated Idempotency-Key."}}


# --- fields --------------------------------------------------------------------------------

class UtcDateTimeField(serializers.DateTimeField):
    """A time in the API's answers: ISO 8601 in UTC (``2026-11-30T07:40:40.956332Z``),
    whichever time zone is active (DRF's ``default_timezone``; it also spares a look-up of
    the active time zone per field and object)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(**kwargs)


class AwareDateTimeField(serializers.DateTimeField):
    """A time the API takes: ISO 8601 with its UTC offset (``2026-12-09T18:00:00Z``,
    ``…-03:00``), as RFC 3339 (the schema's ``date-time``) asks; a time without one is
    refused (400) rather than read in some zone."""

    default_error_messages = {"naive": "Give the UTC offset, e.g. 2026-12-09T18:00:00Z or "
                                       "2026-12-09T15:00:00-03:00."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


# What ``str.strip()`` removes (``str.isspace``); JSON Schema's ``\s`` differs, so it is spelt out.
_SPACE = r"\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Text fields (published as the field's ``pattern``): no NUL (DRF refuses it), and unless
# blank is allowed, something besides white space (DRF trims it first).
TEXT_PATTERN = rf"^[^\u0000]*[^\u0000{_SPACE}][^\u0000]*$"
TEXT_OR_BLANK_PATTERN = r"^[^\u0000]*$"


class StrictCharField(serializers.CharField):
    """A ``CharField`` that accepts only JSON strings (DRF would turn ``12`` into ``"12"``)
    and applies ``max_length`` to the string as sent, before trimming whitespace.

    ``pattern`` (a regular expression the whole value, trimmed, must match; it may not start
    or end with white space; ``pattern_message`` when it does not) is checked and published;
    without it the field publishes ``TEXT_PATTERN`` (or ``TEXT_OR_BLANK_PATTERN``), what
    DRF's own checks amount to."""

    def __init__(self, *, pattern: str | None = None, pattern_message: str = "Enter a valid value.",
                 **kwargs):
        validators = list(kwargs.pop("validators", []))
        if pattern is not None:  # white space around is trimmed before the check
            optional = "?" if kwargs.get("allow_blank") else ""
            validators.append(RegexValidator(rf"^[{_SPACE}]*(?:{pattern}){optional}[{_SPACE}]*$",
                                             message=pattern_message))
        elif not any(isinstance(v, RegexValidator) for v in validators):
            validators.append(RegexValidator(
                TEXT_OR_BLANK_PATTERN if kwargs.get("allow_blank") else TEXT_PATTERN))
        super().__init__(validators=validators, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


# An http(s) URL: a host, then a path, query or fragment, without spaces or control characters.
HTTP_URL_PATTERN = (r"[hH][tT][tT][pP][sS]?://[^\u0000-\u0020\u007f-\u00a0/?#]+"
                    r"(?:[/?#][^\u0000-\u0020\u007f-\u00a0]*)?")


class StrictURLField(StrictCharField, serializers.URLField):
    """An http(s) URL with the checks of ``StrictCharField``: ``HTTP_URL_PATTERN``, which the
    schema states, instead of Django's ``URLValidator``, which it cannot."""

    def __init__(self, **kwargs):
        kwargs.setdefault("pattern", HTTP_URL_PATTERN)
        kwargs.setdefault("pattern_message", "Enter an http(s) URL.")
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if type(v) is not URLValidator]


class StrictIntegerField(serializers.IntegerField):
    """An ``IntegerField`` that accepts only JSON numbers that are integers (``5``, and ``5.0``
    as JSON Schema counts it), not ``"5"``, ``5.5`` or ``true``."""

    def to_internal_value(self, data):
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A ``BooleanField`` that accepts only JSON ``true`` and ``false`` (not ``"yes"`` or ``1``)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


# --- the schema generator ------------------------------------------------------------------

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class OmsAutoSchema(AutoSchema):
    """AutoSchema adding the shared error responses, their headers and
    ``additionalProperties: false`` on strict input."""

    def _parameter_names(self) -> set[str]:
        return {p.name for p in self.get_override_parameters() if isinstance(p, OpenApiParameter)
                and not p.response}

    def _error_responses(self) -> dict[str, tuple[type, str]]:
        """The error statuses this operation can answer: ``{status: (serializer, description)}``."""
        parameters = self._parameter_names()
        errors = {
            "400": (ValidationErrorSerializer, "Invalid input (messages per field in `errors`)."),
            "401": (ErrorSerializer, "Missing, unknown or revoked token."),
        }
        if self.method not in ("GET", "HEAD") or getattr(self.view, "requires_staff_token", False):
            errors["403"] = (ErrorSerializer, "A read-only token writing, or a token this "
                                              "endpoint is not open to.")
        if "{" in self.path:
            errors["404"] = (ErrorSerializer, "Not found, or outside the token's stock locations.")
        if self.method in _BODY_METHODS:
            errors["409"] = (ErrorSerializer, "Refused in the current state (nothing was changed).")
        if "If-Match" in parameters:
            errors["412"] = (PreconditionErrorSerializer, "If-Match does not match the current version.")
        if self.method in _BODY_METHODS:
            errors["413"] = (ErrorSerializer, "The body is larger than the server accepts.")
            errors["415"] = (ErrorSerializer, "The body is not JSON.")
        if "Idempotency-Key" in parameters:
            errors["422"] = (ErrorSerializer, "Idempotency-Key reused with another request.")
        errors["429"] = (ThrottledErrorSerializer, "Too many requests for this token (or, without a "
                                                   "valid token, this address): wait `Retry-After` seconds.")
        return errors

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":  # a webhook's answers (drf-spectacular's mocked view)
            return responses
        for code, (serializer, description) in self._error_responses().items():
            if code not in responses:
                response = self._get_response_for_code(serializer, code, direction=direction)
                response["description"] = description
                if code == "429":
                    response["headers"] = {"Retry-After": {
                        "schema": {"type": "integer"}, "description": "Seconds to wait."}}
                responses[code] = response
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = dict(super()._get_response_headers_for_code(status_code, direction))
        if direction != "response":
            return headers
        headers.update(_RESPONSE_HEADERS.get(str(status_code), {}))
        if "Idempotency-Key" in self._parameter_names() and (
                str(status_code).startswith("2") or str(status_code) in ("400", "403", "409")):
            headers.update(_REPLAYED_HEADER)
        return headers

    def _unwrap_list_serializer(self, serializer, direction):
        """A list serializer's array, with its ``min_length``/``max_length`` as
        ``minItems``/``maxItems`` (drf-spectacular leaves them out)."""
        schema = super()._unwrap_list_serializer(serializer, direction)
        if schema and schema.get("type") == "array" and isinstance(serializer, serializers.ListSerializer):
            if serializer.min_length is not None:
                schema["minItems"] = serializer.min_length
            if serializer.max_length is not None:
                schema["maxItems"] = serializer.max_length
        return schema

    def _get_filter_parameters(self):
        """django-filter parameters with each filter's ``max_length`` as ``maxLength``, text
        without NUL and not blank (``TEXT_PATTERN``), a list of at least one value, and a
        filter's own ``openapi_parameter`` (a dict merged into the parameter) when it has one.
        A filter sent blank is refused (``oms.api.filters.FilterBackend``): leave it out for
        no filter."""
        parameters = super()._get_filter_parameters()
        filterset_class = getattr(self.view, "filterset_class", None)
        if filterset_class is None:
            return parameters
        result = []
        for parameter in parameters:
            parameter = copy.deepcopy(parameter)
            filter_ = filterset_class.base_filters.get(parameter["name"])
            if filter_ is not None:
                if filter_.extra.get("max_length") is not None:
                    parameter["schema"]["maxLength"] = filter_.extra["max_length"]
                if parameter["schema"].get("type") == "string" and not {"format", "enum"} & set(
                        parameter["schema"]):
                    parameter["schema"]["pattern"] = TEXT_PATTERN
                parameter.update(copy.deepcopy(getattr(filter_, "openapi_parameter", {})))
                if parameter["schema"].get("type") == "array":
                    parameter["schema"].setdefault("minItems", 1)
            result.append(parameter)
        return result

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, StrictInputSerializer) or (
            isinstance(serializer, type) and issubclass(serializer, StrictInputSerializer)
        ):
            schema["additionalProperties"] = False
        return schema
