"""Transfer routes under ``/api/v1/`` (``number`` converter registered in ``oms.config.api_urls``)."""

from django.urls import path

from transfers.api import views

urlpatterns = [
    path("transfers/", views.TransferListView.as_view(), name="transfer-list"),
    path("transfers/<number:number>/", views.TransferDetailView.as_view(), name="transfer-detail"),
    *[
        path(f"transfers/<number:number>/actions/{name}/", view.as_view(),
             name=f"transfer-action-{name}")
        for name, view in views.ACTION_VIEWS.items()
    ],
    path("state-machines/transfer/", views.TransferStateMachineView.as_view(),
         name="state-machine-transfer"),
]
