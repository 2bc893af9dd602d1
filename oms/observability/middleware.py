"""Answer the operations endpoints ahead of the rest of the middleware stack."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from oms.observability import views

ENDPOINTS = {"/healthz": views.healthz, "/readyz": views.readyz, "/metrics": views.metrics}


class OpsEndpointsMiddleware:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` (GET/HEAD), right after
    ``SecurityMiddleware``.

    Before ``CommonMiddleware``, so the ``Host`` header is not checked against
    ``DJANGO_ALLOWED_HOSTS``: load balancers and Prometheus call a machine by its address.
    Nothing else runs for them (no session, user, CSRF or request metrics); none of the three
    builds a URL from the host.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = ENDPOINTS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return view(request)
