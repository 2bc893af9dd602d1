"""Operator web UI routes: login, the package and transfer screens, location pages.

``/`` opens Package Location Movements; every page needs a logged-in user and shows only
the stock locations that user works at (staff: all).
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from oms.preferences.views import PreferencesView, language_set
from packages.location_pages import LocationDetailView
from packages.views import PackageFindView
from transfers import views as transfer_views

transfer_patterns = (
    [
        path("", transfer_views.TransferListView.as_view(), name="list"),
        path("movements/", transfer_views.TransferMovementsView.as_view(), name="movements"),
        path("export.csv", transfer_views.TransferExportView.as_view(), name="export"),
        path("<str:number>/", transfer_views.TransferDetailView.as_view(), name="detail"),
        path("<str:number>/actions/<slug:action>/", transfer_views.TransferActionView.as_view(),
             name="action"),
    ],
    "transfers",
)

location_patterns = (
    [path("<str:code>/", LocationDetailView.as_view(), name="detail")],
    "locations",
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="packages:movements", permanent=False), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("find/", PackageFindView.as_view(), name="find"),
    # The top bar's language switcher (Django's set_language, plus the user's stored choice).
    path("i18n/setlang/", language_set, name="set_language"),
    path("preferences/", PreferencesView.as_view(), name="preferences"),
    path("packages/", include("packages.urls")),
    path("transfers/", include(transfer_patterns)),
    path("locations/", include(location_patterns)),
]
