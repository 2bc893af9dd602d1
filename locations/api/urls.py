"""Stock routes under ``/api/v1/`` (the location routes: ``packages.api.location_urls``)."""

from django.urls import path

from locations.api import views

urlpatterns = [
    path("stock/", views.StockView.as_view(), name="stock"),
]
