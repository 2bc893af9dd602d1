"""Package routes under ``/api/v1/`` (names live in the ``api`` namespace)."""

from django.urls import path

from packages.api import views

urlpatterns = [
    path("packages/", views.PackageListCreateView.as_view(), name="package-list"),
    *[
        path(f"packages/actions/{name}/", view.as_view(), name=f"package-bulk-{name}")
        for name, view in views.BULK_ACTION_VIEWS.items()
    ],
    path("packages/<number:number>/", views.PackageDetailView.as_view(), name="package-detail"),
    *[
        path(f"packages/<number:number>/actions/{name}/", view.as_view(), name=f"package-action-{name}")
        for name, view in views.ACTION_VIEWS.items()
    ],
    path("brands/", views.BrandListView.as_view(), name="brand-list"),
    path("brands/<slug:slug>/", views.BrandDetailView.as_view(), name="brand-detail"),
    path("denial-reasons/", views.DenialReasonListView.as_view(), name="denial-reason-list"),
    path("state-machines/package/", views.PackageStateMachineView.as_view(),
         name="state-machine-package"),
]
