"""Stock location routes under ``/api/v1/`` (their counts span packages and transfers)."""

from django.urls import path

from packages.api import location_views

urlpatterns = [
    path("locations/", location_views.LocationListView.as_view(), name="location-list"),
    path("locations/<number:code>/", location_views.LocationDetailView.as_view(), name="location-detail"),
]
