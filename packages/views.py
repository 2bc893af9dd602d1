"""Operator web UI for packages: movement dashboard, package list, package detail with its
actions, and the printable shipping ticket.

Views hold no business rule: reads come from ``packages.selectors`` (which apply the
location visibility rule of ``locations.selectors``), every state change is the action's
declared action run through the package engine as ``user_actor(request.user)``, inside the
user's stock locations and only at the ``Package.version`` the form was rendered with, so a
stale or double-submitted form never acts twice.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from urllib.parse import quote, urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.generic import TemplateView

from locations.models import StockLocation
from locations.selectors import (
    location_is_visible,
    stock_location_get,
    user_sees_all_locations,
    visible_location_ids,
)
from oms.actions.actors import user_actor, user_role
from oms.actions.engine import StaleVersion
from oms.actions.errors import OmsError
from oms.actions.forms import action_form_class, input_labels
from oms.actions.messages import message_text, screen_text
from oms.csv_export import csv_response
from oms.webhooks.delivery import webhook_deliveries_for, webhook_replay
from packages.actions import ACTIONS, WAITS, reason_label, split_form_grid
from packages.barcode import code128_svg
from packages.bulk import BULK_MAX, package_bulk_run
from packages.engine import package_allowed_actions, package_run
from packages.export import PACKAGE_CSV_HEADER, package_csv_rows
from packages.models import DASHBOARD_LABELS, Package, Status
from packages.selectors import (
    AGE_BUCKETS,
    MOVEMENT_SORTS,
    MOVEMENT_STATES,
    PACKAGE_SORTS,
    location_figures_of,
    package_block_reasons,
    package_blocked_count_for_user,
    package_counts_by_status,
    package_counts_by_status_for_user,
    package_find_for_user,
    package_get_for_user,
    package_has_shipping_ticket,
    package_is_late,
    package_item_rows,
    package_last_transition,
    package_last_transitions,
    package_location_movements,
    package_movement_location_count,
    package_movement_totals,
    package_order_packages,
    package_search,
    package_waiting_reason,
)
from transfers.models import Status as TransferStatus
from transfers.selectors import transfer_list_for_package

CARDS_PER_PAGE = 48
PACKAGES_PER_PAGE = 50

# The top-right button: the first primary action the package allows (state-machine.md /
# the reference's detail screen); every other allowed action goes in the Select Action menu.
PRIMARY_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.primary)
# Actions some browser user can run at all (state table "who" column: O, or T for staff).
OPERATOR_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.may_run("staff"))
# Actions the package list runs on many selected packages: an operator's, offered for many
# rows (``Action.admin``) with one input for all of them (``Action.bulk``).
BULK_ACTIONS = tuple(name for name in OPERATOR_ACTIONS if ACTIONS[name].admin and ACTIONS[name].bulk)


class VersionForm(forms.Form):
    """The package version an action form was rendered with (hidden field)."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


def _get_package_or_404(user, number: str) -> Package:
    try:
        return package_get_for_user(user=user, number=number)
    except Package.DoesNotExist:
        raise Http404(_("No such package at your locations")) from None


def _get_location_or_404(user, code: str) -> StockLocation:
    try:
        return stock_location_get(user=user, code=code)
    except StockLocation.DoesNotExist:
        raise Http404(_("No such stock location among yours")) from None


def _status_from_slug(slug: str | None) -> Status | None:
    if not slug:
        return None
    try:
        return Status.from_slug(slug)
    except KeyError:
        return None


def _is_partial(request, target: str) -> bool:
    """True when htmx asks for the fragment ``target`` only (live search, paging)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and htmx.target == target and not htmx.boosted


# --- Package Location Movements -----------------------------------------------------------

def ageing_figures(counts: dict[str, int], *, at_location: str) -> dict:
    """A location's ageing (``location_figures_of``) as figures linking to the list
    filtered the same way: ``{"ages": [{"key", "label", "count", "url"}], "late": n,
    "late_url": url}``. ``at_location``: the list's URL for the location (with a query)."""
    return {
        "ages": [{"key": key, "label": label, "count": counts[key],
                  "url": f"{at_location}&open=true&age={key}"}
                 for key, (label, _lower, _upper) in AGE_BUCKETS.items()],
        "late": counts["late"],
        "late_url": f"{at_location}&late=true",
    }


class PackageMovementsView(LoginRequiredMixin, TemplateView):
    """Package Location Movements: a card per visible stock location with its Waiting,
    Preparing, Waiting Transfer Operations and Ready to Package counts and its blocked
    packages, its open packages by time in their state and those past ship-by; search, sort
    and pagination. One aggregate query for the cards with their figures, one for the
    totals, one page count."""

    template_name = "packages/movements.html"

    def get_template_names(self):
        if _is_partial(self.request, "movement-results"):
            return ["packages/_movement_results.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        params = self.request.GET
        q = params.get("q", "").strip()
        sort = params.get("sort") if params.get("sort") in MOVEMENT_SORTS else "waiting"
        # Staff see only locations with packages unless asked; an operator always sees
        # every location they are assigned to.
        include_empty = params.get("empty") == "1" or not user_sees_all_locations(user)
        locations = package_location_movements(user=user, q=q, sort=sort, include_empty=include_empty)
        paginator = Paginator(locations, CARDS_PER_PAGE)
        paginator.count = package_movement_location_count(user=user, q=q, include_empty=include_empty)
        page = paginator.get_page(params.get("page"))
        # links built here, not by {% url %} per count: 6 reverse() per card were a third
        # of the page's rendering
        list_url = reverse("packages:list")
        cards = []
        for location in page.object_list:
            at_location = f"{list_url}?location={quote(location.code, safe='/')}"
            in_list = f"{at_location}&status="
            figures = location_figures_of(location)
            cards.append({
                "location": location,
                "url": reverse("locations:detail", args=[location.code]),
                "open_total": location.open_total,
                "blocked": figures["blocked"],
                "blocked_url": f"{at_location}&blocked=true",
                "ageing": ageing_figures(figures, at_location=at_location),
                "counts": [
                    {"code": code, "slug": Status(code).slug, "label": DASHBOARD_LABELS[code],
                     "count": getattr(location, name), "url": in_list + Status(code).slug}
                    for code, name in MOVEMENT_STATES.items()
                ],
            })
        totals = package_movement_totals(user=user, q=q, include_empty=include_empty)
        context.update(
            page_obj=page, cards=cards, q=q, sort=sort, include_empty=include_empty,
            sorts=[(key, label) for key, (label, _order) in MOVEMENT_SORTS.items()],
            totals=[{"label": DASHBOARD_LABELS[code], "slug": Status(code).slug,
                     "count": totals[name]} for code, name in MOVEMENT_STATES.items()],
            open_total=totals["open_total"],
            blocked_total=totals["blocked"],
            sees_all=user_sees_all_locations(user),
        )
        return context


# --- package list ---------------------------------------------------------------------------

class PackageListView(LoginRequiredMixin, TemplateView):
    """The package list: a status slider (the 17 states with counts), search by package
    number, order number, SKU and tracking number, sorting, pagination, time in state and
    late flags. Filters: ``location`` (code), ``status`` (slug), ``blocked`` (``true`` /
    ``false``), ``open`` (``true``: open packages only), ``age`` (a key of ``AGE_BUCKETS``:
    time in the current state), ``late`` (``true`` / ``false``: past ship-by), ``q``,
    ``sort``, ``page``. A filter given a value it does not know is ignored, and the page says
    so and offers no "select all matching" (nor the export) until it is fixed."""

    template_name = "packages/list.html"

    def get_template_names(self):
        if _is_partial(self.request, "package-results"):
            return ["packages/_list_results.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, params = self.request.user, self.request.GET
        filters = _list_filters(user, params)
        location, status, blocked, q = (filters["location"], filters["status"], filters["blocked"],
                                        filters["q"])
        sort = _list_sort(params)
        if location is not None:
            counts = package_counts_by_status(location_id=location.pk)
        else:
            counts = package_counts_by_status_for_user(user=user)
        now = timezone.now()
        packages = package_search(user=user, sort=sort, now=now, **_search_kwargs(filters))
        page = Paginator(packages, PACKAGES_PER_PAGE).get_page(params.get("page"))
        context.update(
            location=location, status=status, q=q, sort=sort, page_obj=page, now=now,
            order_number=filters["order_number"],
            bulk_actions=_bulk_actions_for(page.object_list, user), bulk_max=BULK_MAX,
            slider=[{"code": code, "slug": Status(code).slug, "label": Status(code).label,
                     "dashboard_label": DASHBOARD_LABELS.get(code, ""), "count": counts[code],
                     "active": status == code}
                    for code in Status.values],
            total_count=sum(counts.values()),
            blocked=blocked,
            blocked_count=package_blocked_count_for_user(
                user=user, location_id=location.pk if location else None),
            sorts=[(key, label) for key, (label, _order) in PACKAGE_SORTS.items()],
            open_only=filters["open_only"], age=filters["age"],
            age_label=AGE_BUCKETS[filters["age"]][0] if filters["age"] else "", late=filters["late"],
            invalid_filters=_invalid_filters_text(filters),
        )
        return context


YES_NO = {"true": True, "false": False}


def _list_filters(user, params) -> dict:
    """The package list's filters from ``params`` (GET or the bulk form's POST):
    ``{"location": StockLocation | None, "status", "blocked", "q", "order_number",
    "open_only", "age", "late", "invalid"}``; ``invalid``: ``[(parameter, value)]`` for each
    filter given a value it does not know (that filter is then off).
    Raises Http404 for a location the user does not work at."""
    location = _get_location_or_404(user, params["location"]) if params.get("location") else None
    understood = {"status": lambda value: _status_from_slug(value) is not None,
                  "blocked": YES_NO.__contains__, "open": "true".__eq__,
                  "age": AGE_BUCKETS.__contains__, "late": YES_NO.__contains__}
    invalid = [(name, params[name]) for name, is_known in understood.items()
               if params.get(name) and not is_known(params[name])]
    return {
        "location": location,
        "status": _status_from_slug(params.get("status")),
        "blocked": YES_NO.get(params.get("blocked", "")),
        "q": params.get("q", "").strip(),
        "order_number": params.get("order", "").strip(),
        "open_only": params.get("open") == "true",
        "age": params.get("age") if params.get("age") in AGE_BUCKETS else None,
        "late": YES_NO.get(params.get("late", "")),
        "invalid": invalid,
    }


def _invalid_filters_text(filters: dict) -> str:
    """``"status=bogus, age=x"``: the filters ``_list_filters`` did not understand ("" if none)."""
    return ", ".join(f"{name}={value[:40]}" for name, value in filters["invalid"])


def _search_kwargs(filters: dict) -> dict:
    location = filters["location"]
    return {"location_id": location.pk if location else None, "status": filters["status"],
            "blocked": filters["blocked"], "q": filters["q"], "order_number": filters["order_number"],
            "open_only": filters["open_only"], "age": filters["age"], "late": filters["late"]}


def _bulk_actions_for(packages, user) -> list[dict]:
    """The bulk actions ``user`` may run now on at least one of ``packages`` (the page's
    rows), in declaration order: ``[{"name", "label", "needs_input"}]``."""
    allowed = set()
    for package in packages:
        allowed.update(package_allowed_actions(package, actor_kind=user_role(user)))
    return [{"name": name, "label": ACTIONS[name].label, "needs_input": ACTIONS[name].asks_input}
            for name in BULK_ACTIONS if name in allowed]


def _list_sort(params) -> str:
    """The package list's order from ``params``: a key of ``PACKAGE_SORTS``."""
    return params.get("sort") if params.get("sort") in PACKAGE_SORTS else "in_state"


class PackageExportView(LoginRequiredMixin, View):
    """``GET``: the package list with the same filters as a streamed CSV attachment
    (``packages.export``), every row of the list rather than a page of it."""

    def get(self, request):
        user, params, now = request.user, request.GET, timezone.now()
        filters = _list_filters(user, params)
        if filters["invalid"]:
            return render(request, "400.html", {"detail": _(
                "Filter not understood: %(filters)s. Nothing was exported: without it the export would "
                "hold other rows than asked.") % {"filters": _invalid_filters_text(filters)}}, status=400)
        packages = package_search(user=user, sort=_list_sort(params), now=now, **_search_kwargs(filters))
        return csv_response(filename=f"packages-{timezone.localdate(now).isoformat()}.csv",
                            header=PACKAGE_CSV_HEADER,
                            rows=package_csv_rows(packages, zone=timezone.get_current_timezone()))


# --- package detail -------------------------------------------------------------------------

def _action_entry(package: Package, name: str) -> dict:
    return {
        "name": name,
        "label": ACTIONS[name].label,
        "needs_input": ACTIONS[name].asks_input,
        "url": reverse("packages:action", args=[package.number, name]),
    }


def _action_label(name: str) -> str:
    spec = ACTIONS.get(name)
    return spec.label if spec else name.replace("_", " ").capitalize()


def _form_for(name: str, package: Package, data=None) -> forms.Form | None:
    """The action's operator form for ``package`` (derived from its input), or None when the
    operator is not asked for input."""
    if not ACTIONS[name].asks_input:
        return None
    form_class = action_form_class(ACTIONS[name], package)
    return form_class(data) if form_class is not None else None


def _transition_rows(package: Package) -> list[dict]:
    return [
        {
            "at": t.created_at,
            "action": _action_label(t.action),
            "from": Status(t.from_status).label if t.from_status is not None else "",
            "to": Status(t.to_status).label,
            "actor": t.actor,
            "reason": reason_label(t.reason),
            "details": _payload_text(t.payload),
        }
        for t in package.transitions.all()
    ]


def _payload_text(payload: dict) -> str:
    """Summarise a transition's payload for the history table (carrier, items, invoice…)."""
    if not isinstance(payload, dict):
        return ""
    parts = []
    if payload.get("tracking_number"):
        parts.append(f"{payload.get('carrier', '')} {payload['tracking_number']}".strip())
    if isinstance(payload.get("items"), list):
        parts.append(", ".join(f"{i.get('quantity')} × {i.get('sku')}" for i in payload["items"]
                               if isinstance(i, dict)))
    if payload.get("invoice_number"):
        parts.append(_("invoice %(number)s") % {"number": payload["invoice_number"]})
    if payload.get("to_location"):
        parts.append(f"{payload.get('from_location', '?')} → {payload['to_location']}")
    if payload.get("replaces"):
        parts.append(_("replaces %(number)s") % {"number": payload["replaces"]})
    if payload.get("block_reason"):
        parts.append(_("was blocked: %(reason)s") % {"reason": payload["block_reason"]})
    if isinstance(payload.get("packages"), list):
        parts.append(_("new packages: %(packages)s") % {"packages": ", ".join(
            _("%(number)s at %(location)s") % {"number": p.get("number"), "location": p.get("location")}
            for p in payload["packages"] if isinstance(p, dict))})
    if payload.get("split_from"):
        parts.append(_("split from %(number)s") % {"number": payload["split_from"]})
    return "; ".join(p for p in parts if p)


PLANNING_VERDICT_LABELS = {
    "chosen": gettext_lazy("Chosen"), "no_stock": gettext_lazy("No stock"),
    "full": gettext_lazy("Full"), "excluded": gettext_lazy("Excluded"),
    "wrong_kind": gettext_lazy("Other kind"), "ranked_lower": gettext_lazy("Ranked lower"),
    "not_included": gettext_lazy("Not included"),
}
PLANNING_OUTCOME_LABELS = {"placed": gettext_lazy("placed it"),
                           "placed_nothing": gettext_lazy("placed nothing"),
                           "not_applicable": gettext_lazy("does not apply")}


def _said(part: dict, key: str) -> str:
    """``part[key]``, a sentence of the planning record, in the current language: worded from
    its ``<key>_message`` (records kept before them: the English sentence)."""
    said = part.get(f"{key}_message")
    return message_text(said) if said else part.get(key, "")


def _rule_name(rule: dict | None) -> str:
    """A rule's name; the built-in ones' (no id) in the current language."""
    if not rule:
        return ""
    return _(rule["name"]) if rule.get("id") is None and rule.get("name") else rule.get("name", "")


def _planning_context(package: Package) -> dict | None:
    """The package's planning record (``packages.planning``) with labels and its sentences
    in the current language for display; None for a package planned before records were kept."""
    record = package.planning
    if not isinstance(record, dict) or not record.get("location"):
        return None
    outcome = record.get("outcome", "")
    status = _status_from_slug(outcome)
    planned_at = record.get("planned_at")
    return {
        **record,
        "summary": _said(record, "summary"),
        "rule": {**record["rule"], "name": _rule_name(record["rule"])} if record.get("rule") else None,
        "outcome_label": status.label if status is not None else outcome,
        "planned_at": dt.datetime.fromisoformat(planned_at) if planned_at else None,
        "rules": [
            {**rule, "name": _rule_name(rule), "note": _said(rule, "note"),
             "outcome_label": PLANNING_OUTCOME_LABELS.get(rule.get("outcome"), rule.get("outcome")),
             "candidates": [{**c, "detail": _said(c, "detail"),
                             "verdict_label": PLANNING_VERDICT_LABELS.get(c["verdict"], c["verdict"])}
                            for c in rule.get("candidates", [])],
             "passed_over": [{"verdict": PLANNING_VERDICT_LABELS.get(v, v), "count": n}
                             for v, n in rule.get("passed_over", {}).items()]}
            for rule in record.get("rules", [])
        ],
    }


def _waiting_context(package: Package, *, allowed: list[str], primary: str | None,
                     role: str) -> dict | None:
    """What ``package`` waits for (``WAITS``: who, what, then, worded for a reader of
    ``role`` (``user_role``): ``then_others`` when it may not run the wait's form), the details of
    ``package_waiting_reason`` (ISO timestamps turned into datetimes, transfer states into
    their labels), and the actions that
    answer the wait and are ``allowed`` now (the main button, ``primary``, aside), with the
    in-place form of ``Wait.form``; None in a state that waits on no one else."""
    wait = WAITS.get(package.status)
    details = package_waiting_reason(package)
    if wait is None and details is None:
        return None
    waiting = dict(details or {})
    if waiting.get("open_transfers"):
        waiting["open_transfers"] = [{**t, "status": TransferStatus(t["status"]).label}
                                     for t in waiting["open_transfers"]]
    if waiting.get("reason"):
        waiting["reason"] = reason_label(waiting["reason"])
    for key in ("last_checked_at", "next_check_at"):
        if waiting.get(key):
            waiting[key] = dt.datetime.fromisoformat(waiting[key])
    if wait is not None:
        acts = [name for name in wait.acts if name in allowed and name != primary]
        may_answer = wait.form is None or ACTIONS[wait.form].may_run(role)
        waiting.update(
            who=wait.who, what=wait.what,
            then=wait.then if may_answer or wait.then_others is None else wait.then_others,
            actions=[_action_entry(package, name) for name in acts if name != wait.form],
            form=({**_action_entry(package, wait.form), "form": _form_for(wait.form, package)}
                  if wait.form in acts else None),
        )
    return waiting


def shipping_ticket_context(package: Package) -> dict:
    """Return what the shipping ticket shows: addresses, numbers and barcodes (no query)."""
    location = package.location
    return {
        "from_lines": [line for line in (
            location.name, location.code,
            ", ".join(p for p in (location.city, location.region) if p), location.postcode,
        ) if line],
        "to_lines": [_("Customer of order %(number)s") % {"number": package.order_number},
                     _("%(brand)s order") % {"brand": package.brand.name}],
        "package_barcode": code128_svg(package.number),
        "tracking_barcode": code128_svg(package.tracking_number) if package.tracking_number else "",
    }


class PackageDetailView(LoginRequiredMixin, TemplateView):
    """One package: Package Information, items with the location's stock, order
    information, replacement links, transfers, why it waits, the transition history, the
    Select Action menu and the primary action; the shipping ticket once shipped."""

    template_name = "packages/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        package = _get_package_or_404(user, kwargs["number"])
        allowed = package_allowed_actions(package, actor_kind=user_role(user))
        primary_name = next((name for name in PRIMARY_ACTIONS if name in allowed), None)
        primary = _action_entry(package, primary_name) if primary_name else None
        if primary is not None and primary_name == "ship":
            primary["form"] = _form_for("ship", package)
            primary["needs_input"] = False  # the carrier and tracking fields sit by the button
        visible_ids = visible_location_ids(user=user)
        order_packages = [
            {"package": other, "visible": visible_ids is None or other.location_id in visible_ids}
            for other in package_order_packages(package)
        ]
        replacement = getattr(package, "replacement", None)
        split_into = [other for other in order_packages if other["package"].split_from_id == package.pk]
        context.update(
            package=package,
            status=Status(package.status),
            cancellation_reason=reason_label(package.cancellation_reason),
            is_late=package_is_late(package),
            primary=primary,
            secondary=[_action_entry(package, name) for name in allowed if name != primary_name],
            items=package_item_rows(package),
            order_packages=order_packages,
            replacement=replacement,
            split_into=split_into,
            split_from_visible=package.split_from_id is not None and (
                visible_ids is None or package.split_from.location_id in visible_ids),
            waiting=_waiting_context(package, allowed=allowed, primary=primary_name, role=user_role(user)),
            planning=_planning_context(package),
            transfers=transfer_list_for_package(package_id=package.pk),
            transitions=_transition_rows(package),
            has_ticket=package_has_shipping_ticket(package),
            deliveries=webhook_deliveries_for(aggregate_type="package", aggregate_id=package.pk),
        )
        if context["has_ticket"]:
            context["ticket"] = shipping_ticket_context(package)
        return context


class PackageTicketView(LoginRequiredMixin, TemplateView):
    """The printable shipping ticket: addresses, package number and Code 128 barcodes."""

    template_name = "packages/ticket.html"

    def get(self, request, *args, **kwargs):
        package = _get_package_or_404(request.user, kwargs["number"])
        if not package_has_shipping_ticket(package):
            messages.info(request, _("The shipping ticket exists once the package is shipped."))
            return redirect("packages:detail", number=package.number)
        return self.render_to_response({"package": package, "ticket": shipping_ticket_context(package),
                                        "printed_at": timezone.now()})


# --- actions --------------------------------------------------------------------------------

def _conflict_message(package: Package, user, action: str) -> str:
    """What changed ``package`` since the operator's page was read (its last log entry: who
    ran which action) and that ``action``, this click's, was not run."""
    last = package_last_transition(package_id=package.pk)
    state = Status(package.status).label
    asked = _action_label(action)
    if last is not None and last.actor_user_id == user.pk:
        done = _action_label(last.action)
        if last.action == action:
            return _("You already ran %(done)s: it is now %(state)s. Nothing was done a second "
                     "time.") % {"done": done, "state": state}
        return _("This package changed since the page was loaded: you ran %(done)s (in another "
                 "tab or window) and it is now %(state)s. %(asked)s was not run; check it and act "
                 "again if still needed.") % {"done": done, "state": state, "asked": asked}
    who = f" ({last.actor}: {_action_label(last.action)})" if last is not None else ""
    if last is not None and last.action == action:
        return _("Someone else changed this package%(who)s: it is now %(state)s. Nothing was "
                 "done a second time.") % {"who": who, "state": state}
    return _("Someone else changed this package%(who)s: it is now %(state)s. %(asked)s was not "
             "run; check it and act again if still needed.") % {"who": who, "state": state,
                                                               "asked": asked}


def _user_packages(user):
    """The packages at the user's stock locations (a queryset)."""
    ids = visible_location_ids(user=user)
    return Package.objects.all() if ids is None else Package.objects.filter(location_id__in=ids)


class PackageActionView(LoginRequiredMixin, View):
    """``GET``: the action's form (or confirmation). ``POST``: run the action on the package
    if the form's version is current, then redirect (POST-redirect-GET).

    Only actions an operator may run and the package allows now are offered; a package at
    a location the user does not work at answers 404 and nothing changes.
    """

    template_name = "packages/action_form.html"

    def _setup(self, request, number: str, action: str) -> Package:
        if action not in OPERATOR_ACTIONS:
            raise Http404(_("No such operator action"))
        return _get_package_or_404(request.user, number)

    def _render(self, request, package: Package, action: str, form, *, version: int, status: int = 200):
        return render(request, self.template_name, {
            "package": package, "status": Status(package.status), "action": action,
            "action_label": ACTIONS[action].label, "form": form, "version": version,
            "grid": split_form_grid(form, package) if action == "split" and form is not None else None,
        }, status=status)

    def get(self, request, number: str, action: str):
        package = self._setup(request, number, action)
        role = user_role(request.user)
        if action not in package_allowed_actions(package, actor_kind=role):
            if not ACTIONS[action].may_run(role) and action in package_allowed_actions(package):
                messages.warning(request, _("%(action)s may be run only by: %(who)s.") % {
                    "action": ACTIONS[action].label,
                    "who": ", ".join(_(name) for name in ACTIONS[action].who_names)})
                return redirect("packages:detail", number=package.number)
            state = (_("blocked (%(reason)s)") % {"reason": package.block_reason}
                     if package.is_blocked and action != "unblock" else Status(package.status).label)
            messages.warning(request, _("%(action)s is not possible while the package is %(state)s.")
                             % {"action": ACTIONS[action].label, "state": state})
            return redirect("packages:detail", number=package.number)
        return self._render(request, package, action, _form_for(action, package), version=package.version)

    def post(self, request, number: str, action: str):
        package = self._setup(request, number, action)
        detail_url = reverse("packages:detail", args=[package.number])
        version_form = VersionForm(request.POST)
        if not version_form.is_valid():
            messages.error(request, _("The form was incomplete (no package version): nothing was done."))
            return HttpResponseRedirect(detail_url)
        form = _form_for(action, package, request.POST)
        if form is not None and not form.is_valid():
            # Keep the version the operator started from: a stale form stays stale.
            return self._render(request, package, action, form,
                                version=version_form.cleaned_data["version"], status=400)
        inputs = form.inputs() if form is not None else {}
        try:
            result = package_run(action, package_id=package.pk, packages=_user_packages(request.user),
                                 actor=user_actor(request.user),
                                 versions={version_form.cleaned_data["version"]}, **inputs)
        except Package.DoesNotExist:
            raise Http404(_("No such package at your locations")) from None
        except StaleVersion:
            current = Package.objects.only("pk", "status", "version").get(pk=package.pk)
            messages.warning(request, _conflict_message(current, request.user, action))
            return HttpResponseRedirect(detail_url)
        except OmsError as exc:
            messages.error(request, _error_text(action, exc, form))
            return HttpResponseRedirect(detail_url)
        return self._after_success(request, package, action, result)

    def _after_success(self, request, package: Package, action: str, result: Package):
        label = ACTIONS[action].label
        state = Status(result.status).label
        text = (_("%(action)s: the package is blocked (%(state)s).") if result.is_blocked
                else _("%(action)s: the package is now %(state)s."))
        messages.success(request, text % {"action": label, "state": state})
        replacement = getattr(result, "replacement", None) if action.startswith("report_") else None
        if replacement is not None:
            messages.info(request, format_html(_("Replacement package {} created ({})."),
                                               _package_link(replacement, request.user),
                                               Status(replacement.status).label))
        split_off = getattr(result, "split_packages", None) or []
        if split_off:
            messages.info(request, format_html(_("New package(s): {}."), format_html_join(
                ", ", _("{} ({} at {})"),
                ((_package_link(new, request.user), Status(new.status).label, new.location.code)
                 for new in split_off))))
        if not location_is_visible(user=request.user, location_id=result.location_id):
            messages.info(request, _("The package now belongs to a location you do not work at."))
            return redirect(f"{reverse('packages:list')}?location={package.location.code}")
        anchor = "#shipping-ticket" if package_has_shipping_ticket(result) else ""
        return HttpResponseRedirect(reverse("packages:detail", args=[package.number]) + anchor)


def _package_link(package: Package, user) -> str:
    """``package``'s number as safe HTML: a link to its page if ``user`` may see it, else text."""
    if not location_is_visible(user=user, location_id=package.location_id):
        return package.number
    return format_html('<a href="{}">{}</a>', reverse("packages:detail", args=[package.number]),
                       package.number)


def _error_text(action: str, exc: OmsError, form=None) -> str:
    """The refusal as one sentence in the operator's language (``screen_text``); an input
    error names the ``form``'s field by its label."""
    return _("%(action)s refused: %(detail)s") % {
        "action": ACTIONS[action].label, "detail": screen_text(
            exc, actions=ACTIONS, fields=input_labels(ACTIONS[action], form))}


class PackageWebhookReplayView(LoginRequiredMixin, View):
    """POST: send the package's failed webhook deliveries again (same webhook-id)."""

    def post(self, request, number):
        package = _get_package_or_404(request.user, number)
        failed = [d.pk for d in webhook_deliveries_for(aggregate_type="package", aggregate_id=package.pk)
                  if d.status == "failed"]
        count = webhook_replay(delivery_ids=failed)
        messages.success(request, ngettext("%(count)d failed webhook delivery queued again.",
                                           "%(count)d failed webhook deliveries queued again.",
                                           count) % {"count": count})
        return redirect("packages:detail", number=package.number)


# --- scan to open ---------------------------------------------------------------------------

# The longest scan looked up: more than any package number (80), order or tracking number or
# SKU code (64) holds, so nothing longer can match; the list's URL with it stays under the
# 2,048 characters a redirect may have even when each character takes 12 (4 UTF-8 bytes, %XX).
SCAN_MAX_CHARS = 100


def scanned_code(value: str) -> str:
    """``value`` without the control characters a scanner may send (Enter, Tab, a GS
    separator) and without surrounding whitespace."""
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cc").strip()


class PackageFindView(LoginRequiredMixin, View):
    """``GET /find/?q=``: the top bar's scan field. An exact package number, tracking number
    (either is what a shipping ticket's barcodes hold) or an order number of one package, in
    any case, opens that package; an order of several packages opens the list of that order;
    anything else opens the list searched with ``q``. Only packages at the user's locations
    count. A scan longer than ``SCAN_MAX_CHARS`` is not looked up (a message says why)."""

    def get(self, request):
        code = scanned_code(request.GET.get("q", ""))
        list_url = reverse("packages:list")
        if not code:
            return redirect(list_url)
        if len(code) > SCAN_MAX_CHARS:
            messages.error(request, _("The scanned text is %(length)s characters long; no package, order or "
                                      "tracking number is longer than %(max)s. Nothing was looked up.")
                           % {"length": number_format(len(code), force_grouping=True), "max": SCAN_MAX_CHARS})
            return redirect(list_url)
        kind, numbers, order_number = package_find_for_user(user=request.user, code=code)
        if kind == "package" or (kind == "order" and len(numbers) == 1):
            return redirect("packages:detail", number=numbers[0])
        if kind == "order":
            return redirect(f"{list_url}?{urlencode({'order': order_number})}")
        if package_search(user=request.user, q=code).exists():
            messages.info(request, _("No package, order or tracking number is exactly “%(code)s”: "
                                     "the packages containing it are listed.") % {"code": code})
        else:
            messages.info(request, _("No package, order or tracking number matches “%(code)s”.")
                          % {"code": code})
        return redirect(f"{list_url}?{urlencode({'q': code})}")


# --- bulk actions from the package list -----------------------------------------------------

# How a package of a bulk run ended, as the results page groups them (in this order).
BULK_RESULT_LABELS = {
    "done": gettext_lazy("Done"),
    "not_allowed": gettext_lazy("Not allowed from its state"),
    "changed": gettext_lazy("Changed meanwhile"),
    "blocked": gettext_lazy("Blocked (on hold)"),
    "not_found": gettext_lazy("Not found"),
    "failed": gettext_lazy("Refused"),
}
# The session keeps the results of the user's last few bulk runs for the results page.
BULK_RUNS_SESSION_KEY = "package_bulk_runs"
BULK_RUNS_KEPT = 5
# Package numbers the bulk input form names before "and N more".
BULK_FORM_NUMBERS_SHOWN = 20


def _list_url(filters: dict) -> str:
    """The package list with ``filters`` (``_list_filters``' shape) applied."""
    location, status, blocked = filters["location"], filters["status"], filters["blocked"]
    query = {key: value for key, value in (
        ("location", location.code if location else ""), ("status", status.slug if status else ""),
        ("blocked", "" if blocked is None else str(blocked).lower()), ("q", filters["q"]),
        ("order", filters["order_number"]), ("open", "true" if filters["open_only"] else ""),
        ("age", filters["age"] or ""),
        ("late", "" if filters["late"] is None else str(filters["late"]).lower()),
    ) if value}
    url = reverse("packages:list")
    return f"{url}?{urlencode(query)}" if query else url


def _selected_entries(values: list[str]) -> list[dict] | None:
    """``[{"number", "version"}]`` from the list's checkboxes (``"<version>:<number>"``), each
    package once; None when one is malformed."""
    entries, seen = [], set()
    for value in values:
        version, _sep, number = value.partition(":")
        if not version.isdigit() or int(version) < 1 or not number:
            return None
        if number not in seen:
            seen.add(number)
            entries.append({"number": number, "version": int(version)})
    return entries


def _bulk_rows(results: list[dict], user) -> list[dict]:
    """The results of a run as the session keeps them (no text in the operator's language,
    so the page shows them in the language it is read in): ``{"number", "kind", "status"
    (code or None), "error" (the refusal as ``OmsError.as_screen_dict`` gives it: code, English
    detail, the structured extras, message and params; None when done), "changed" (the
    last change of a package changed meanwhile: ``{"by_you", "actor", "action"}``, or None),
    "blocked" (its block reason now if it is blocked, else None), "link"}`` per package, in
    the order run (1 query for the packages changed meanwhile, 1 for those blocked)."""
    changed = [r["number"] for r in results
               if r["result"] == "failed" and (r["error"] or {}).get("code") == "version_mismatch"]
    last = package_last_transitions(numbers=changed) if changed else {}
    found = [r["number"] for r in results if r["result"] != "not_found"]
    blocked = package_block_reasons(numbers=found) if found else {}
    rows = []
    for result in results:
        error = result["error"] or {}
        kind, status = result["result"], (result["status"] or {}).get("code")
        change = None
        if kind == "not_allowed" and error.get("code") == "blocked":
            kind = "blocked"
        elif kind == "failed" and error.get("code") == "version_mismatch":
            kind = "changed"
            row = last.get(result["number"])
            if row is not None:
                status = row.package.status
                change = {"by_you": row.actor_user_id == user.pk, "actor": row.actor, "action": row.action}
        rows.append({"number": result["number"], "kind": kind, "status": status,
                     "error": result["error"], "changed": change,
                     "blocked": blocked.get(result["number"]), "link": kind != "not_found"})
    return rows


def _bulk_row_text(row: dict, fields: dict | None = None) -> dict:
    """A kept row (``_bulk_rows``) for the results page: its result ``label``, ``state`` (the
    label of its status, and its hold if it is blocked) and ``reason``, in the current language
    (``fields``: the input form's labels, ``{name: label}``)."""
    state = Status(row["status"]).label if row["status"] else ""
    block_reason = row.get("blocked")
    if state and block_reason is not None:
        state = (_("%(state)s · blocked: %(reason)s") % {"state": state, "reason": block_reason}
                 if block_reason else _("%(state)s · blocked") % {"state": state})
    error = row.get("error")
    reason = (screen_text(error, actions=ACTIONS, fields=fields) if error
              else row.get("detail", ""))
    if row["kind"] == "changed":
        change = row["changed"]
        if change is not None:
            reason = _("Changed meanwhile by %(who)s (%(action)s): it is now %(state)s. Nothing was "
                       "done; check it and act again if still needed.") % {
                "who": _("you") if change["by_you"] else change["actor"],
                "action": _action_label(change["action"]), "state": state}
        else:
            reason = _("Changed meanwhile. Nothing was done; check it and act again if still needed.")
    elif row["kind"] == "not_found":
        reason = _("No such package at your locations.")
    return {**row, "label": BULK_RESULT_LABELS[row["kind"]], "state": state, "reason": reason}


class PackageBulkActionView(LoginRequiredMixin, View):
    """``POST`` (the package list's bulk form): run one action on the selected packages, each
    only at the version its row showed, or on every package matching the list's filter (read
    again here, as they are now; at most ``BULK_MAX``), through the bulk path of the API
    (``packages.bulk.package_bulk_run``) as the operator, within the user's stock locations.
    An action asking for input shows its form (derived from its input) first. Redirects to
    the results (``PackageBulkResultsView``). Every package matching a filter the list does
    not understand is refused (nothing is done). ``GET`` (a reload of the input form) goes
    back to the list."""

    def get(self, request):
        messages.info(request, _("Choose the packages and the action again on the list: a bulk form "
                                 "is not run again by reloading it."))
        return redirect("packages:list")

    def post(self, request):
        filters = _list_filters(request.user, request.POST)
        list_url = _list_url(filters)
        action = request.POST.get("action", "")
        if action not in BULK_ACTIONS:
            messages.error(request, _("Choose an action to run on the selected packages: nothing was done."))
            return HttpResponseRedirect(list_url)
        all_matching = request.POST.get("all_matching") == "1"
        if all_matching and filters["invalid"]:
            messages.error(request, _("Filter not understood: %(filters)s. Fix or remove it before selecting "
                                      "every package matching the filter: nothing was done.")
                           % {"filters": _invalid_filters_text(filters)})
            return HttpResponseRedirect(list_url)
        if all_matching:
            numbers = list(package_search(user=request.user, **_search_kwargs(filters))
                           .values_list("number", flat=True)[:BULK_MAX + 1])
            entries = [{"number": number} for number in numbers]
        else:
            entries = _selected_entries(request.POST.getlist("selected"))
            if entries is None:
                messages.error(request, _("The selection was malformed: nothing was done."))
                return HttpResponseRedirect(list_url)
        if not entries:
            messages.warning(request, _("No package selected: nothing was done."))
            return HttpResponseRedirect(list_url)
        if len(entries) > BULK_MAX:
            messages.error(request, _("More than %(max)s packages match this filter; at most %(max)s "
                                      "can be acted on at once. Narrow the filter (state, location, "
                                      "hold, search) and run it again: nothing was done.")
                           % {"max": number_format(BULK_MAX, force_grouping=True)})
            return HttpResponseRedirect(list_url)
        spec = ACTIONS[action]
        inputs = {}
        form_class = action_form_class(spec) if spec.asks_input else None
        if form_class is not None:
            form = form_class(request.POST if "apply" in request.POST else None, prefix="input")
            if not form.is_bound or not form.is_valid():
                next(iter(form.fields.values())).widget.attrs["autofocus"] = True
                return render(request, "packages/bulk_form.html", {
                    "action": action, "action_label": spec.label, "form": form,
                    "selected": request.POST.getlist("selected"), "all_matching": all_matching,
                    "count": len(entries), "filters": filters, "list_url": list_url,
                    "numbers": [entry["number"] for entry in entries[:BULK_FORM_NUMBERS_SHOWN]],
                    "numbers_more": max(len(entries) - BULK_FORM_NUMBERS_SHOWN, 0),
                }, status=400 if form.is_bound else 200)
            inputs = form.inputs()
        results = package_bulk_run(action, [{**entry, **inputs} for entry in entries],
                                   actor=user_actor(request.user), packages=_user_packages(request.user),
                                   screen=True)
        # Post/redirect/get: the results are kept in the session, so reloading the results
        # page shows them again instead of running the action a second time.
        run_id = uuid.uuid4().hex
        runs = request.session.get(BULK_RUNS_SESSION_KEY, {})
        runs[run_id] = {"action": action, "all_matching": all_matching, "list_url": list_url,
                        "rows": _bulk_rows(results, request.user)}
        while len(runs) > BULK_RUNS_KEPT:
            runs.pop(next(iter(runs)))
        request.session[BULK_RUNS_SESSION_KEY] = runs
        return redirect("packages:bulk_results", run=run_id)


class PackageBulkResultsView(LoginRequiredMixin, TemplateView):
    """The results of one of the user's last ``BULK_RUNS_KEPT`` bulk runs (kept in the
    session): counts and one row per package; 404 once it is no longer kept."""

    template_name = "packages/bulk_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.request.session.get(BULK_RUNS_SESSION_KEY, {}).get(kwargs["run"])
        if run is None:
            raise Http404(_("These bulk results are no longer kept"))
        counts = dict.fromkeys(BULK_RESULT_LABELS, 0)
        for row in run["rows"]:
            counts[row["kind"]] += 1
        spec = ACTIONS[run["action"]]
        form_class = action_form_class(spec) if spec.asks_input else None
        fields = input_labels(spec, form_class()) if form_class is not None else None
        context.update(
            action=run["action"], action_label=ACTIONS[run["action"]].label,
            all_matching=run["all_matching"], list_url=run["list_url"],
            rows=[_bulk_row_text(row, fields) for row in run["rows"]],
            counts=[{"kind": kind, "label": label, "count": counts[kind]}
                    for kind, label in BULK_RESULT_LABELS.items()],
        )
        return context
