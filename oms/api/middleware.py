"""Request checks of the API made before any view reads the body."""

from __future__ import annotations

from django.http import JsonResponse

from oms.api.errors import error_body


class LengthRequiredMiddleware:
    """Answer 411 ``length_required`` (JSON) to an ``/api/`` request whose body comes
    chunked (``Transfer-Encoding`` without ``Content-Length``): Django reads a body only up
    to ``Content-Length``, so the body would be taken as empty and the request answered as if
    nothing had been sent."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (request.path.startswith("/api/") and request.META.get("HTTP_TRANSFER_ENCODING")
                and not request.META.get("CONTENT_LENGTH")):
            return JsonResponse(error_body(
                "length_required", "Send the body with a Content-Length header (chunked "
                "transfer encoding is not read)."), status=411)
        return self.get_response(request)
