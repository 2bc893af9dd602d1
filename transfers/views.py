"""Operator web UI for transfers: Transfer Location Movements, the transfer list and a
transfer page with its actions.

Reads come from ``transfers.selectors`` (visibility: the source or the destination is one of
the user's locations; staff see all); state changes run the declared action
(``transfers.actions``) through the transfer engine as ``user_actor(request.user)``. An
operator acts on the end each action needs (``Action.side``): the source runs ready for
dispatch, dispatch and the cancellations, the destination runs receive. Every action form
carries ``Transfer.version``; the engine acts only at that version, under the row lock.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from locations.models import StockLocation
from locations.selectors import (
    stock_location_get,
    user_sees_all_locations,
    visible_location_ids,
)
from oms.actions.actors import user_actor, user_role
from oms.actions.engine import StaleVersion
from oms.actions.errors import OmsError
from oms.actions.forms import action_form_class, input_labels
from oms.actions.messages import screen_text
from oms.csv_export import csv_response
from transfers.actions import ACTIONS
from transfers.engine import transfer_allowed_actions, transfer_run
from transfers.export import TRANSFER_CSV_HEADER, transfer_csv_rows
from transfers.models import Status, Transfer
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

CARDS_PER_PAGE = 48
TRANSFERS_PER_PAGE = 50

# Actions an operator can run from the browser at all (the declaration's "who": O).
OPERATOR_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.may_run("staff"))


class VersionForm(forms.Form):
    """The transfer version an action form was rendered with (hidden field)."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


def transfer_actions_for_user(transfer: Transfer, *, user, visible_ids: set[int] | None) -> list[str]:
    """Return the actions ``user`` may run on ``transfer`` now: allowed by its state and
    on the end each needs (``Action.side``) among ``visible_ids`` (``visible_location_ids``;
    None: staff, every end)."""
    return transfer_allowed_actions(transfer, actor_kind=user_role(user), location_ids=visible_ids)


def _form_for(name: str, transfer: Transfer | None = None, data=None) -> forms.Form | None:
    """The action's inline form on the transfer page (derived from its input; None when it
    takes none). Every field of a transfer action is optional."""
    form_class = action_form_class(ACTIONS[name], transfer)
    return form_class(data) if form_class is not None else None


def _action_label(name: str) -> str:
    action = ACTIONS.get(name)
    return action.label if action is not None else name.replace("_", " ").capitalize()


def _get_location_or_404(user, code: str) -> StockLocation:
    try:
        return stock_location_get(user=user, code=code)
    except StockLocation.DoesNotExist:
        raise Http404(_("No such stock location among yours")) from None


def _get_transfer_or_404(user, number: str) -> Transfer:
    try:
        return transfer_get_for_user(user=user, number=number)
    except Transfer.DoesNotExist:
        raise Http404(_("No such transfer at your locations")) from None


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
            sorts=[(key, label) for key, (label, _order) in TRANSFER_MOVEMENT_SORTS.items()],
            sees_all=user_sees_all_locations(user),
        )
        return context


def _transfer_list(request) -> tuple[dict, QuerySet[Transfer]]:
    """Read the transfer list's filters from the query string (``location`` code,
    ``direction``, ``status`` slug, ``q``, ``sort``) and return them with the list's transfers
    (``transfer_search``). The list page and its CSV export both read it here. ``invalid``:
    ``"direction=x, status=y"``, the filters given a value they do not know (then off), or "".
    Raises Http404 for a location the user does not work at."""
    user, params = request.user, request.GET
    location = _get_location_or_404(user, params["location"]) if params.get("location") else None
    known = {"direction": DIRECTIONS, "status": Status.values}
    filters = {
        "invalid": ", ".join(f"{name}={params[name][:40]}" for name, values in known.items()
                             if params.get(name) and params[name] not in values),
        "location": location,
        "direction": params.get("direction") if params.get("direction") in DIRECTIONS else None,
        "status": params.get("status") if params.get("status") in Status.values else None,
        "q": params.get("q", "").strip(),
        "sort": params.get("sort") if params.get("sort") in TRANSFER_SORTS else "in_state",
    }
    transfers = transfer_search(user=user, location_id=location.pk if location else None,
                                direction=filters["direction"], status=filters["status"], q=filters["q"],
                                sort=filters["sort"])
    return filters, transfers


class TransferListView(LoginRequiredMixin, TemplateView):
    """Transfers of one location and direction in one state (the dashboard's drill-down), or
    all visible ones; search by transfer, package, tracking number or SKU; pagination."""

    template_name = "transfers/list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        filters, transfers = _transfer_list(self.request)
        location, direction, status = filters["location"], filters["direction"], filters["status"]
        page = Paginator(transfers, TRANSFERS_PER_PAGE).get_page(params.get("page"))
        counts = transfer_counts_by_direction(location_id=location.pk) if location else None
        slider = None
        if counts is not None and direction is not None:
            slider = [{"slug": value, "label": label, "count": counts[direction][value],
                       "active": status == value} for value, label in Status.choices]
        context.update(
            **filters, invalid_filters=filters["invalid"],
            direction_label=DIRECTION_LABELS.get(direction, ""),
            status_label=Status(status).label if status else "",
            page_obj=page, slider=slider,
            sorts=[(key, label) for key, (label, _order) in TRANSFER_SORTS.items()],
        )
        return context


class TransferExportView(LoginRequiredMixin, View):
    """``GET``: the transfer list with the same filters as a streamed CSV attachment
    (``transfers.export``), every row of the list rather than a page of it."""

    def get(self, request):
        filters, transfers = _transfer_list(request)
        if filters["invalid"]:
            return render(request, "400.html", {"detail": _(
                "Filter not understood: %(filters)s. Nothing was exported: without it the export would "
                "hold other rows than asked.") % {"filters": filters["invalid"]}}, status=400)
        return csv_response(filename=f"transfers-{timezone.localdate().isoformat()}.csv",
                            header=TRANSFER_CSV_HEADER,
                            rows=transfer_csv_rows(transfers, zone=timezone.get_current_timezone()))


class TransferDetailView(LoginRequiredMixin, TemplateView):
    """One transfer: route, package, items, state, log, and the actions the user may run."""

    template_name = "transfers/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        transfer = _get_transfer_or_404(user, kwargs["number"])
        visible_ids = visible_location_ids(user=user)
        actions = [
            {"name": name, "label": ACTIONS[name].label, "form": _form_for(name, transfer),
             "url": reverse("transfers:action", args=[transfer.number, name])}
            for name in transfer_actions_for_user(transfer, user=user, visible_ids=visible_ids)
        ]
        package_visible = visible_ids is None or transfer.package.location_id in visible_ids
        context.update(
            transfer=transfer, actions=actions, package_visible=package_visible,
            items=list(transfer.items.all()),
            transitions=[
                {"at": t.created_at, "action": _action_label(t.action),
                 "from": Status(t.from_status).label if t.from_status else "",
                 "to": Status(t.to_status).label, "actor": t.actor, "reason": t.reason}
                for t in transfer_transitions(transfer)
            ],
        )
        return context


class TransferActionView(LoginRequiredMixin, View):
    """``POST`` only: run a transfer action through the engine if the form's version is
    current, then redirect to the transfer (POST-redirect-GET). 404 when the user may not
    see the transfer or does not work at the end the action needs (nothing changes); invalid
    input is a message and nothing is done."""

    def post(self, request, number: str, action: str):
        if action not in OPERATOR_ACTIONS:
            raise Http404(_("No such transfer action"))
        transfer = _get_transfer_or_404(request.user, number)
        detail_url = reverse("transfers:detail", args=[transfer.number])
        version_form = VersionForm(request.POST)
        form = _form_for(action, transfer, request.POST)
        if not version_form.is_valid() or (form is not None and not form.is_valid()):
            messages.error(request, _("The form was incomplete or invalid: nothing was done."))
            return HttpResponseRedirect(detail_url)
        label = ACTIONS[action].label
        try:
            result = transfer_run(action, transfer_id=transfer.pk, actor=user_actor(request.user),
                                  location_ids=visible_location_ids(user=request.user),
                                  versions={version_form.cleaned_data["version"]},
                                  **(form.inputs() if form is not None else {}))
        except Transfer.DoesNotExist:
            raise Http404(_("You do not work at the location that runs this action")) from None
        except StaleVersion:
            current = Transfer.objects.only("pk", "status").get(pk=transfer.pk)
            messages.warning(request, _("Someone else changed this transfer: it is now %(state)s. "
                                        "Nothing was done.") % {"state": Status(current.status).label})
            return HttpResponseRedirect(detail_url)
        except OmsError as exc:
            fields = input_labels(ACTIONS[action], form)
            messages.error(request, _("%(action)s refused: %(detail)s") % {
                "action": label, "detail": screen_text(exc, actions=ACTIONS, fields=fields)})
            return HttpResponseRedirect(detail_url)
        messages.success(request, _("%(action)s: the transfer is now %(state)s.")
                         % {"action": label, "state": Status(result.status).label})
        return HttpResponseRedirect(detail_url)

    def get(self, request, number: str, action: str):
        transfer = _get_transfer_or_404(request.user, number)
        return HttpResponseRedirect(reverse("transfers:detail", args=[transfer.number]))

