"""Operator web UI for transfers: Transfer Location Movements, the transfer list and a
transfer page with its actions.

Reads come from ``transfers.selectors`` (visibility: the source or the destination is one of
the user's locations; staff see all); state changes call ``transfers.services`` as
``user_actor(request.user)``. An operator acts on the side they work at: the source runs
ready for dispatch, dispatch and the cancellations, the destination runs receive. Every
action form carries ``Transfer.version``, checked under a row lock as for packages.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from locations.models import StockLocation
from locations.selectors import (
    location_is_visible,
    stock_location_get,
    user_sees_all_locations,
    visible_location_ids,
)
from oms.actors import user_actor
from oms.exceptions import OmsError
from transfers.models import TRANSFER_ACTION_SIDE, Status, Transfer
from transfers.selectors import (
    DIRECTION_LABELS,
    DIRECTIONS,
    TRANSFER_MOVEMENT_SORTS,
    TRANSFER_SORTS,
    count_field,
    transfer_counts_by_direction,
    transfer_get_for_user,
    transfer_location_movements,
    transfer_search,
    transfer_transitions,
)
from transfers.services import TRANSFER_ACTION_SERVICES, transfer_actions_for_locations

CARDS_PER_PAGE = 48
TRANSFERS_PER_PAGE = 50

ACTION_LABELS = {
    "ready_for_dispatch": "Ready for Dispatch",
    "dispatch": "Dispatch",
    "receive": "Receive",
    "cancel": "Cancel",
    "request_cancellation": "Request Cancellation",
    "confirm_cancellation": "Confirm Cancellation",
    "reject_cancellation": "Reject Cancellation",
}


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class TransferDispatchForm(forms.Form):
    """Optional carrier and tracking number of a dispatched transfer."""

    carrier = forms.CharField(max_length=64, required=False)
    tracking_number = forms.CharField(max_length=64, required=False)


ACTION_FORMS: dict[str, type[forms.Form]] = {
    "dispatch": TransferDispatchForm,
    "cancel": ReasonForm,
    "request_cancellation": ReasonForm,
    "confirm_cancellation": ReasonForm,
    "reject_cancellation": ReasonForm,
}


class VersionForm(forms.Form):
    """The transfer version an action form was rendered with (hidden field)."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


def transfer_actions_for_user(transfer: Transfer, *, user, visible_ids: set[int] | None) -> list[str]:
    """Return the actions ``user`` may run on ``transfer`` now: allowed by its state and on
    the side (source or destination) the user works at. ``visible_ids`` is
    ``visible_location_ids(user=…)`` (None: staff, every side)."""
    return transfer_actions_for_locations(transfer, location_ids=visible_ids)


def _get_location_or_404(user, code: str) -> StockLocation:
    try:
        return stock_location_get(user=user, code=code)
    except StockLocation.DoesNotExist:
        raise Http404("No such stock location among yours") from None


def _get_transfer_or_404(user, number: str) -> Transfer:
    try:
        return transfer_get_for_user(user=user, number=number)
    except Transfer.DoesNotExist:
        raise Http404("No such transfer at your locations") from None


def _is_partial(request, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and htmx.target == target and not htmx.boosted


class TransferMovementsView(LoginRequiredMixin, TemplateView):
    """Transfer Location Movements: a card per visible location with its transfers in each
    of the 6 states, incoming and outgoing apart; search, sort, pagination (1 query for the
    cards, 1 page count)."""

    template_name = "transfers/movements.html"

    def get_template_names(self):
        if _is_partial(self.request, "movement-results"):
            return ["transfers/_movement_results.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, params = self.request.user, self.request.GET
        q = params.get("q", "").strip()
        sort = params.get("sort") if params.get("sort") in TRANSFER_MOVEMENT_SORTS else "open"
        include_empty = params.get("empty") == "1" or not user_sees_all_locations(user)
        locations = transfer_location_movements(user=user, q=q, sort=sort, include_empty=include_empty)
        page = Paginator(locations, CARDS_PER_PAGE).get_page(params.get("page"))
        cards = [
            {
                "location": location,
                "open_total": location.open_total,
                "directions": [
                    {"key": direction, "label": DIRECTION_LABELS[direction],
                     "open": getattr(location, f"{direction}_open"),
                     "counts": [{"slug": value, "label": label,
                                 "count": getattr(location, count_field(direction, value))}
                                for value, label in Status.choices]}
                    for direction in DIRECTIONS
                ],
            }
            for location in page.object_list
        ]
        context.update(
            page_obj=page, cards=cards, q=q, sort=sort, include_empty=include_empty,
            sorts=[(key, label) for key, (label, _) in TRANSFER_MOVEMENT_SORTS.items()],
            sees_all=user_sees_all_locations(user),
        )
        return context


class TransferListView(LoginRequiredMixin, TemplateView):
    """Transfers of one location and direction in one state (the dashboard's drill-down), or
    all visible ones; search by transfer, package, tracking number or SKU; pagination."""

    template_name = "transfers/list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, params = self.request.user, self.request.GET
        location = _get_location_or_404(user, params["location"]) if params.get("location") else None
        direction = params.get("direction") if params.get("direction") in DIRECTIONS else None
        status = params.get("status") if params.get("status") in Status.values else None
        q = params.get("q", "").strip()
        sort = params.get("sort") if params.get("sort") in TRANSFER_SORTS else "in_state"
        transfers = transfer_search(user=user, location_id=location.pk if location else None,
                                    direction=direction, status=status, q=q, sort=sort)
        page = Paginator(transfers, TRANSFERS_PER_PAGE).get_page(params.get("page"))
        counts = transfer_counts_by_direction(location_id=location.pk) if location else None
        slider = None
        if counts is not None and direction is not None:
            slider = [{"slug": value, "label": label, "count": counts[direction][value],
                       "active": status == value} for value, label in Status.choices]
        context.update(
            location=location, direction=direction, direction_label=DIRECTION_LABELS.get(direction, ""),
            status=status, status_label=Status(status).label if status else "", q=q, sort=sort,
            page_obj=page, slider=slider,
            sorts=[(key, label) for key, (label, _) in TRANSFER_SORTS.items()],
        )
        return context


class TransferDetailView(LoginRequiredMixin, TemplateView):
    """One transfer: route, package, items, state, log, and the actions the user may run."""

    template_name = "transfers/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        transfer = _get_transfer_or_404(user, kwargs["number"])
        visible_ids = visible_location_ids(user=user)
        actions = [
            {"name": name, "label": ACTION_LABELS[name],
             "form": ACTION_FORMS[name]() if name in ACTION_FORMS else None,
             "url": reverse("transfers:action", args=[transfer.number, name])}
            for name in transfer_actions_for_user(transfer, user=user, visible_ids=visible_ids)
        ]
        package_visible = visible_ids is None or transfer.package.location_id in visible_ids
        context.update(
            transfer=transfer, actions=actions, package_visible=package_visible,
            items=list(transfer.items.all()),
            transitions=[
                {"at": t.created_at, "action": ACTION_LABELS.get(t.action, t.action),
                 "from": Status(t.from_status).label if t.from_status else "",
                 "to": Status(t.to_status).label, "actor": t.actor, "reason": t.reason}
                for t in transfer_transitions(transfer)
            ],
        )
        return context


class _Conflict(Exception):
    def __init__(self, transfer: Transfer):
        self.transfer = transfer


class TransferActionView(LoginRequiredMixin, View):
    """``POST`` only: run a transfer action if the form's version is current, then redirect
    to the transfer (POST-redirect-GET). 404 when the user may not see the transfer or may
    not act on that side; invalid input re-renders the transfer page's form."""

    def post(self, request, number: str, action: str):
        if action not in TRANSFER_ACTION_SERVICES:
            raise Http404("No such transfer action")
        transfer = _get_transfer_or_404(request.user, number)
        detail_url = reverse("transfers:detail", args=[transfer.number])
        version_form = VersionForm(request.POST)
        form = ACTION_FORMS[action](request.POST) if action in ACTION_FORMS else None
        if not version_form.is_valid() or (form is not None and not form.is_valid()):
            messages.error(request, "The form was incomplete or invalid: nothing was done.")
            return HttpResponseRedirect(detail_url)
        kwargs = dict(form.cleaned_data) if form is not None else {}
        label = ACTION_LABELS[action]
        try:
            with transaction.atomic():
                locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
                side_id = getattr(locked, f"{TRANSFER_ACTION_SIDE[action]}_id")
                if not location_is_visible(user=request.user, location_id=side_id):
                    raise Http404("You do not work at the location that runs this action")
                if locked.version != version_form.cleaned_data["version"]:
                    raise _Conflict(locked)
                result = TRANSFER_ACTION_SERVICES[action](transfer_id=transfer.pk,
                                                          actor=user_actor(request.user), **kwargs)
        except _Conflict as conflict:
            messages.warning(request, f"Someone else changed this transfer: it is now "
                                      f"{Status(conflict.transfer.status).label}. Nothing was done.")
            return HttpResponseRedirect(detail_url)
        except OmsError as exc:
            messages.error(request, f"{label} refused: {exc.detail}")
            return HttpResponseRedirect(detail_url)
        messages.success(request, f"{label}: the transfer is now {Status(result.status).label}.")
        return HttpResponseRedirect(detail_url)

    def get(self, request, number: str, action: str):
        transfer = _get_transfer_or_404(request.user, number)
        return HttpResponseRedirect(reverse("transfers:detail", args=[transfer.number]))

