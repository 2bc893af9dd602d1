"""``/healthz``, ``/readyz`` and ``/metrics`` (served by ``OpsEndpointsMiddleware``)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView

from oms.observability.health import readiness
from oms.observability.metrics import metrics_domain_exposition


def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process answers; touches neither database nor broker."""
    return JsonResponse({"status": "alive"})


def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, else 503; both with the ``readiness()`` JSON.

    ``?exclude=broker&exclude=beat`` leaves checks out (e.g. for a load balancer that should
    keep serving while the broker is down); an unknown name answers 400.
    """
    try:
        result = readiness(exclude=frozenset(request.GET.getlist("exclude")))
    except KeyError as exc:
        return JsonResponse({"code": "unknown_check", "detail": f"no such check: {exc.args[0]}"},
                            status=400)
    return JsonResponse(result, status=200 if result["status"] == "ready" else 503)


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def metrics_access(request: HttpRequest) -> int | None:
    """None when the request may read ``/metrics``, else the status to answer.

    404 while neither ``METRICS_TOKEN`` nor ``METRICS_ALLOWED_IPS`` is set (metrics off);
    403 unless the request sends ``Authorization: Bearer <METRICS_TOKEN>`` or comes from an
    address in ``METRICS_ALLOWED_IPS`` (addresses or networks; ``REMOTE_ADDR``, the peer's
    address: a proxy in between must be listed itself, X-Forwarded-For is not trusted).
    """
    token = settings.METRICS_TOKEN
    allowed = _networks(settings.METRICS_ALLOWED_IPS)
    if not token and not allowed:
        return 404
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return None
    if allowed:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return 403
        if any(address in network for network in allowed):
            return None
    return 403


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: django-prometheus's series of this machine's web processes, then
    the OMS series computed from the database and broker (``oms.observability.metrics``)."""
    refused = metrics_access(request)
    if refused is not None:
        return JsonResponse({"code": "not_found" if refused == 404 else "forbidden",
                             "detail": "metrics are off" if refused == 404 else "not allowed"},
                            status=refused)
    response = ExportToDjangoView(request)
    response.content = response.content + metrics_domain_exposition()
    response["Cache-Control"] = "no-store"
    return response
