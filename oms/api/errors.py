"""REST error mapping: every error is JSON ``{"code": str, "detail": str, ...}``; never a 500.

Shapes (``code`` is stable, ``detail`` is for humans):

* 400 ``{"code": "invalid", "detail": "Invalid input.", "errors": {field: [message, …]}}``
  (a nested field named by its path, ``items.0.sku``): serializer and filter errors, Django
  ``ValidationError`` and the services' ``InvalidInput`` (which also keeps its ``field``);
* 401 ``not_authenticated`` / ``authentication_failed``; 403 ``permission_denied``,
  ``read_only_token``, ``actor_not_permitted``; 404 ``not_found``;
* 409 ``transition_not_allowed`` (with ``current_status`` and ``allowed_actions``) and the
  other ``OmsError`` codes, with the error's ``extra`` merged in;
* 412 ``version_mismatch`` (with ``current_version``); 422 ``idempotency_key_reused``.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from oms.actions.errors import InvalidInput, OmsError


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
        return {"code": self.code, "detail": str(self.detail), **self.extra}


def oms_error_body(exc: OmsError) -> dict:
    """Return the JSON body for a domain error: ``as_dict()``, its ``errors`` flattened
    (``flat_errors``), or ``errors`` made from the ``field`` of an ``InvalidInput`` so every
    400 carries field errors in the same place."""
    body = exc.as_dict()
    if "errors" in body:
        body["errors"] = flat_errors(body["errors"])
    elif isinstance(exc, InvalidInput):
        body["errors"] = {str(exc.extra.get("field", "non_field_errors")): [exc.detail]}
    return body


def oms_error_response(exc: OmsError) -> Response:
    """Return the ``Response`` for a domain error (its ``http_status``, ``oms_error_body``)."""
    return Response(oms_error_body(exc), status=exc.http_status)


def flat_errors(detail) -> dict[str, list[str]]:
    """Return DRF's (possibly nested) error detail as ``{field: [message, …]}``: a nested
    field is named by its path (``items.0.sku``), a list's or object's own messages
    (``non_field_errors``) by the list's or object's name."""
    flat: dict[str, list[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                key = str(key)
                walk(sub, path if path and key == "non_field_errors" else f"{path}.{key}" if path else key)
        elif isinstance(value, list) and any(isinstance(sub, (dict, list)) for sub in value):
            for index, sub in enumerate(value):
                if sub:
                    walk(sub, f"{path}.{index}" if path else str(index))
        else:
            messages = value if isinstance(value, list) else [value]
            flat.setdefault(path or "non_field_errors", []).extend(str(m) for m in messages)

    walk(detail, "")
    return flat


def _invalid(errors) -> Response:
    return Response({"code": "invalid", "detail": "Invalid input.", "errors": flat_errors(errors)},
                    status=status.HTTP_400_BAD_REQUEST)


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc, context):
    """DRF ``EXCEPTION_HANDLER``: map every error to ``{"code", "detail", …}`` (see module doc).

    ``OmsError`` → its ``http_status`` with ``as_dict()``; DRF and Django validation errors →
    400 with ``errors``; ``Http404`` / ``ObjectDoesNotExist`` → 404 (no details leaked);
    a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` → 413 ``request_too_large``; other DRF
    exceptions keep their status with ``code`` added. Anything else is left to
    DRF (a bug: it becomes a 500 and is logged).
    """
    if isinstance(exc, OmsError):
        return oms_error_response(exc)
    if isinstance(exc, ApiError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _invalid(detail)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _invalid(detail)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"code": "request_too_large", "detail": f"The body is larger than {limit:,} bytes."},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return Response({"code": "not_found", "detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    response = drf_exception_handler(exc, context)  # keeps WWW-Authenticate, Retry-After
    if response is not None and isinstance(exc, exceptions.APIException):
        response.data = {"code": _code_of(exc), "detail": str(exc.detail)}
    return response


def etag_for(version: int) -> str:
    """Return the strong ETag for a row ``version``: ``'"7"'``."""
    return f'"{version}"'


def if_match_check(request, current_version: int) -> None:
    """Refuse the request (412 ``version_mismatch``) unless its ``If-Match`` header is absent,
    ``*``, or lists ``current_version`` (``"7"``, ``W/"7"`` or ``7``).

    Call it after locking the row the version belongs to, so the check and the change see
    the same version.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return
    for tag in (t.strip() for t in header.split(",")):
        if tag == "*":
            return
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == str(current_version):
            return
    raise ApiError(412, "version_mismatch",
                   f"If-Match {header[:100]!r} does not match the current version {current_version}; "
                   "read the resource again and decide anew.", current_version=current_version)


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
