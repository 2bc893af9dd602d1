"""Operator web UI for one stock location (route ``locations:detail``): its packages in
all 17 states and its transfers in the 6 transfer states, incoming and outgoing apart (each
count opens the list). Lives here, above ``locations`` and ``transfers``, because it shows all
three."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from locations.models import StockLocation
from packages.models import DASHBOARD_LABELS, Status
from packages.selectors import location_figures_of, package_counts_by_status, package_location_get_for_user
from packages.views import ageing_figures
from transfers.models import Status as TransferStatus
from transfers.selectors import DIRECTION_LABELS, transfer_counts_by_direction


class LocationDetailView(LoginRequiredMixin, TemplateView):
    """A location's counts in every package state and transfer state, its blocked packages,
    and its open packages by time in their state and those past ship-by (3 queries: the
    location with its figures, the package counts, the transfer counts). 404 for a location
    the user does not work at."""

    template_name = "locations/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            location = package_location_get_for_user(user=self.request.user, code=kwargs["code"])
        except StockLocation.DoesNotExist:
            raise Http404(_("No such stock location among yours")) from None
        counts = package_counts_by_status(location_id=location.pk)
        figures = location_figures_of(location)
        transfers = transfer_counts_by_direction(location_id=location.pk)
        context.update(
            location=location,
            package_counts=[
                {"code": code, "slug": Status(code).slug, "label": Status(code).label,
                 "dashboard_label": DASHBOARD_LABELS.get(code, ""), "count": counts[code]}
                for code in Status.values
            ],
            package_total=sum(counts.values()),
            blocked_count=figures["blocked"],
            ageing=ageing_figures(
                figures, at_location=f"{reverse('packages:list')}?location={quote(location.code, safe='/')}"),
            transfer_counts=[
                {"key": direction, "label": DIRECTION_LABELS[direction],
                 "counts": [{"slug": value, "label": label, "count": transfers[direction][value]}
                            for value, label in TransferStatus.choices]}
                for direction in ("incoming", "outgoing")
            ],
        )
        return context
