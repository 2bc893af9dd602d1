"""Stock location and stock routes under ``/api/v1/``."""

from django.urls import path

from locations.api import views

urlpatterns = [
    path("locations/", views.LocationListView.as_view(), name="location-list"),
    path("locations/<number:code>/", views.LocationDetailView.as_view(), name="location-detail"),
    path("stock/", views.StockView.as_view(), name="stock"),
]
