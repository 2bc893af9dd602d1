"""REST API routes (``/api/…``): ``v1/`` endpoints, the OpenAPI schema and Swagger UI.

The schema (``/api/schema/``) and the docs (``/api/docs/``, Swagger UI served from
drf-spectacular-sidecar's static files, no internet needed) need no token.
"""

from django.urls import include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from oms.api.converters import NumberConverter
from oms.api.errors import api_not_found
from oms.config.api_schema import EventFeedPageSerializer
from oms.webhooks.api import EventFeedView, EventTypesView, WebhookSubscriptionViewSet

register_converter(NumberConverter, "number")

app_name = "api"

webhook_router = SimpleRouter()
webhook_router.register("v1/webhooks/subscriptions", WebhookSubscriptionViewSet,
                        basename="webhook-subscription")

urlpatterns = [
    path("v1/events/", EventFeedView.as_view(serializer_class=EventFeedPageSerializer), name="events"),
    path("v1/webhooks/event-types/", EventTypesView.as_view(), name="webhook-event-types"),
    *webhook_router.urls,
    path("v1/", include("packages.api.urls")),
    path("v1/", include("transfers.api.urls")),
    path("v1/", include("packages.api.location_urls")),
    path("v1/", include("locations.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    # Anything else under /api/ answers JSON, not Django's HTML 404 (nor an APPEND_SLASH
    # redirect, which cannot carry a POST body).
    re_path(r"", api_not_found, name="not-found"),
]
