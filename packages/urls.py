"""Operator web UI routes for packages (mounted at ``/packages/`` by ``oms.config.web_urls``)."""

from django.urls import path

from packages import views

app_name = "packages"

urlpatterns = [
    path("", views.PackageListView.as_view(), name="list"),
    path("movements/", views.PackageMovementsView.as_view(), name="movements"),
    path("export.csv", views.PackageExportView.as_view(), name="export"),
    path("actions/", views.PackageBulkActionView.as_view(), name="bulk_action"),
    path("actions/results/<str:run>/", views.PackageBulkResultsView.as_view(), name="bulk_results"),
    path("<str:number>/", views.PackageDetailView.as_view(), name="detail"),
    path("<str:number>/ticket/", views.PackageTicketView.as_view(), name="ticket"),
    path("<str:number>/actions/<slug:action>/", views.PackageActionView.as_view(), name="action"),
    path("<str:number>/webhooks/replay/", views.PackageWebhookReplayView.as_view(), name="webhook_replay"),
]
