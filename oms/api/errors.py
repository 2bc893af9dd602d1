"""The API's one error shape: every 4xx and 5xx under ``/api/`` is JSON
``{"code": str, "detail": str, ...}`` (``code`` is stable, ``detail`` is for humans), built here
and nowhere else.

By status:

* 400 ``invalid`` (serializer, filter, query-parameter and Django validation errors, the
  services' ``InvalidInput``, which also keeps its ``field``), ``parse_error`` (a body that is
  not JSON, or nested deeper than ``oms.api.filters.JSON_MAX_DEPTH``), ``bad_request`` (too
  many query parameters, an unknown host); every 400 carries ``errors``:
  ``{field: [message, …]}`` (a nested field named by its path, ``items.0.sku``;
  ``non_field_errors`` when no field is to blame; a bulk body keys its rows by index);
* 401 ``not_authenticated`` / ``authentication_failed``; 403 ``permission_denied``,
  ``read_only_token``, ``actor_not_permitted``; 404 ``not_found``; 405 ``method_not_allowed``
  (``Allow`` lists the methods that work); 406 ``not_acceptable``; 415 ``unsupported_media_type``;
* 409 ``transition_not_allowed`` (with ``current_status`` and ``allowed_actions``) and the
  other ``OmsError`` codes, with the error's ``extra`` merged in;
  ``idempotency_request_in_progress``;
* 412 ``version_mismatch`` (with ``current_version``); 413 ``request_too_large`` (with
  ``max_bytes``); 422 ``idempotency_key_reused``; 429 ``throttled`` (with
  ``retry_after_seconds``, also sent as ``Retry-After``): over the token's or the address's
  rate (``oms.api.throttling``);
* 500 ``server_error`` (no details; the error is logged).

DRF views answer through ``exception_handler``; what happens outside them (an unknown path,
a body too big or too many parameters met in a middleware, a crash) through the Django error
handlers below (``oms.config.urls``), which answer the site's own pages outside ``/api/``.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    TooManyFieldsSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt, requires_csrf_token
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from oms.actions.errors import InvalidInput, OmsError

API_PATH_PREFIX = "/api/"
NON_FIELD_ERRORS = "non_field_errors"


class ApiError(exceptions.APIException):
    """An API-level refusal (not a domain error) with a stable ``code`` and extra fields.

    ``ApiError(412, "version_mismatch", "…", current_version=3)`` renders as
    ``{"code": "version_mismatch", "detail": "…", "current_version": 3}`` with status 412.
    """

    def __init__(self, http_status: int, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = http_status
        self.code = code
        self.extra = extra

    def as_dict(self) -> dict:
        return error_body(self.code, str(self.detail), **self.extra)


def error_body(code: str, detail: str, **extra: object) -> dict:
    """Return ``{"code": code, "detail": detail, **extra}``: the body of every API error."""
    return {"code": code, "detail": detail, **extra}


def invalid_body(errors, *, code: str = "invalid", detail: str = "Invalid input.") -> dict:
    """Return a 400 body: ``errors`` as ``flat_errors`` makes them, ``{field: [message, …]}``
    (a nested field named by its path, ``items.0.sku``; a bare message or list of messages
    under ``non_field_errors``). Every 400 of the API is built here."""
    return error_body(code, detail, errors=flat_errors(errors))


def oms_error_body(exc: OmsError) -> dict:
    """Return the JSON body for a domain error: ``as_dict()``, its ``errors`` flattened
    (``flat_errors``), or ``errors`` made from the ``field`` of an ``InvalidInput`` so every
    400 carries field errors in the same place."""
    body = exc.as_dict()
    if "errors" in body:
        body["errors"] = flat_errors(body["errors"])
    elif isinstance(exc, InvalidInput):
        body["errors"] = flat_errors({str(exc.extra.get("field", NON_FIELD_ERRORS)): [exc.detail]})
    return body


def oms_error_response(exc: OmsError) -> Response:
    """Return the ``Response`` for a domain error (its ``http_status``, ``oms_error_body``)."""
    return Response(oms_error_body(exc), status=exc.http_status)


def request_too_large_body() -> dict:
    """The 413 body: ``max_bytes`` is ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body("request_too_large", f"The body is larger than {limit:,} bytes.", max_bytes=limit)


def flat_errors(detail) -> dict[str, list[str]]:
    """Return DRF's (possibly nested) error detail as ``{field: [message, …]}``: a nested
    field is named by its path (``items.0.sku``), a list's or object's own messages
    (``non_field_errors``) by the list's or object's name."""
    flat: dict[str, list[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                key = str(key)
                walk(sub, path if path and key == NON_FIELD_ERRORS else f"{path}.{key}" if path else key)
        elif isinstance(value, list) and any(isinstance(sub, (dict, list)) for sub in value):
            for index, sub in enumerate(value):
                if sub:
                    walk(sub, f"{path}.{index}" if path else str(index))
        else:
            messages = value if isinstance(value, list) else [value]
            flat.setdefault(path or NON_FIELD_ERRORS, []).extend(str(m) for m in messages)

    walk(detail, "")
    return flat


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _body_for(exc) -> tuple[dict, int] | None:
    """The body and status for an exception the API knows, else None."""
    if isinstance(exc, OmsError):
        return oms_error_body(exc), exc.http_status
    if isinstance(exc, ApiError):
        return exc.as_dict(), exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        return invalid_body(exc.detail), status.HTTP_400_BAD_REQUEST
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return invalid_body(detail), status.HTTP_400_BAD_REQUEST
    if isinstance(exc, exceptions.ParseError):
        return invalid_body([str(exc.detail)], code="parse_error", detail=str(exc.detail)), 400
    if isinstance(exc, RequestDataTooBig):
        return request_too_large_body(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, TooManyFieldsSent):
        return _bad_request_body(exc), status.HTTP_400_BAD_REQUEST
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return error_body("not_found", "Not found."), status.HTTP_404_NOT_FOUND
    return None


def exception_handler(exc, context):
    """DRF ``EXCEPTION_HANDLER``: map every error to ``{"code", "detail", …}`` (module doc),
    always rendered as JSON (also on the schema and docs pages, whose own renderers are YAML
    and HTML).

    ``OmsError`` → its ``http_status`` with ``as_dict()``; DRF and Django validation errors →
    400 with ``errors``; ``Http404`` / ``ObjectDoesNotExist`` → 404 (no details leaked);
    a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` → 413; other DRF exceptions keep their status
    (and headers: ``WWW-Authenticate``, ``Allow``, ``Retry-After``) with ``code`` added (a 429 also
    ``retry_after_seconds``, the ``Retry-After`` header's value).
    Anything else is left to Django: a bug, logged, answered by ``server_error``.
    """
    request = context.get("request")
    if request is not None:
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    known = _body_for(exc)
    if known is not None:
        return Response(known[0], status=known[1])
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        response.data = error_body(_code_of(exc), str(exc.detail))
        if isinstance(exc, exceptions.Throttled) and "Retry-After" in response:
            response.data["retry_after_seconds"] = int(response["Retry-After"])
    return response


# --- Django's error handlers (``handler400`` … in ``oms.config.urls``) ------------------------

def is_api_request(request) -> bool:
    """True for a request to a path under ``/api/``."""
    return request.path_info.startswith(API_PATH_PREFIX)


def error_response(http_status: int, body: dict) -> JsonResponse:
    """Return ``body`` as a JSON response with ``http_status`` (outside DRF views)."""
    return JsonResponse(body, status=http_status)


def _bad_request_body(exc) -> dict:
    if isinstance(exc, TooManyFieldsSent):
        message = (f"Too many query or form parameters (at most "
                   f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,}).")
    else:
        message = "Bad request."
    return invalid_body([message], code="bad_request", detail=message)


@csrf_exempt
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """The 404 of a path under ``/api/`` that names no endpoint (any method)."""
    return error_response(404, error_body(
        "not_found", "No such endpoint. API paths end with a slash, e.g. /api/v1/packages/."))


@requires_csrf_token
def bad_request(request, exception):
    """``handler400``: a ``SuspiciousOperation`` (a body over the limit read before any view
    → 413, too many parameters, an unknown host …) → JSON under ``/api/``, else the site's page."""
    if not is_api_request(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return error_response(413, request_too_large_body())
    return error_response(400, _bad_request_body(exception))


@requires_csrf_token
def permission_denied(request, exception):
    """``handler403``: JSON ``permission_denied`` under ``/api/``, else the site's page."""
    if not is_api_request(request):
        return defaults.permission_denied(request, exception)
    return error_response(403, error_body("permission_denied",
                                          "You do not have permission to perform this action."))


@requires_csrf_token
def page_not_found(request, exception):
    """``handler404``: JSON ``not_found`` under ``/api/``, else the site's page."""
    if not is_api_request(request):
        return defaults.page_not_found(request, exception)
    return api_not_found(request)


@requires_csrf_token
def server_error(request):
    """``handler500``: JSON ``server_error`` under ``/api/`` (nothing about the error itself;
    Django has logged it), else the site's page."""
    if not is_api_request(request):
        return defaults.server_error(request)
    return error_response(500, error_body("server_error", "Internal server error; it has been logged."))


def etag_for(version: int) -> str:
    """Return the strong ETag for a row ``version``: ``'"7"'``."""
    return f'"{version}"'


def if_match_refused(request, current_version: int) -> ApiError:
    """The 412 ``version_mismatch`` of a request whose ``If-Match`` names another version than
    the row's ``current_version`` (raise it)."""
    return ApiError(412, "version_mismatch",
                    f"If-Match {request.headers.get('If-Match', '')[:100]!r} does not match the current "
                    f"version {current_version}; read the resource again and decide anew.",
                    current_version=current_version)


_VERSION_TAG = re.compile(r'(?:W/)?"([0-9]{1,18})"|([0-9]{1,18})')


def if_match_versions(request) -> set[int] | None:
    """The versions the request's ``If-Match`` accepts (``"7"``, ``W/"7"`` or ``7``, comma
    separated; ASCII digits only); None without the header or with ``*``. A tag that is no
    version matches none."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    versions = set()
    for tag in (t.strip() for t in header.split(",")):
        if tag == "*":
            return None
        match = _VERSION_TAG.fullmatch(tag)
        if match:
            versions.add(int(match.group(1) or match.group(2)))
    return versions


class StrictQueryParamsMixin:
    """Refuse query parameters the endpoint does not know (400 naming each), so a typo in a
    filter name (``?statuss=``) fails instead of silently returning everything.

    Known: the ``filterset_class`` filters, plus ``cursor``/``page_size`` for paginated lists.
    A parameter given twice (``?sku=a&sku=b``) is refused too, as only one would count,
    unless its filter takes several values that way (a ``MultipleChoiceFilter``).
    Checked after authentication and permissions.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        allowed = set(getattr(self, "allowed_query_params", ()))
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        if getattr(self, "pagination_class", None) is not None and hasattr(self, "paginate_queryset"):
            allowed |= {"cursor", "page_size"}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise exceptions.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        params = request.query_params
        filters = filterset_class.base_filters.items() if filterset_class is not None else ()
        repeatable = {name for name, filter_ in filters
                      if issubclass(getattr(filter_, "field_class", object), forms.MultipleChoiceField)}
        repeated = sorted(name for name in params if len(params.getlist(name)) > 1 and name not in repeatable)
        if repeated:
            raise exceptions.ValidationError({name: ["Given more than once: send it once (a list takes "
                                                     "comma-separated values)."] for name in repeated})
