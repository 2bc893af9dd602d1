"""REST error mapping: domain errors become JSON with a stable ``code``; never a 500."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from oms.exceptions import OmsError


def exception_handler(exc, context):
    """Map ``OmsError`` to its ``http_status`` with ``as_dict()``, Django ``ValidationError``
    to 400 with field messages and ``ObjectDoesNotExist`` to 404; the rest to DRF's default."""
    if isinstance(exc, OmsError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response({"code": "invalid", "detail": detail}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"code": "not_found", "detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)
