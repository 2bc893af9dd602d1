"""Reads used by the API, the operator screens and tasks. No writes here."""

from __future__ import annotations

import datetime as dt

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FilteredRelation,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from locations.models import StockLocation
from locations.selectors import locations_restrict, stock_levels_for_skus, stock_location_list
from packages.models import (
    AGEING_STATES,
    CAPACITY_STATES,
    DASHBOARD_LABELS,
    Brand,
    Package,
    PackageItem,
    PackageTransition,
    PlanningRule,
    Status,
)
from transfers.models import OPEN_STATES, Transfer


def brand_list() -> QuerySet[Brand]:
    """Return brands with their fallback location and planning rules (in the order they are
    tried, with their include and exclude lists) prefetched: 4 queries for any page."""
    rules = PlanningRule.objects.order_by("position", "pk").prefetch_related(
        "include_locations", "exclude_locations")
    return Brand.objects.select_related("fallback_location").prefetch_related(
        Prefetch("planning_rules", queryset=rules))


def package_list() -> QuerySet[Package]:
    """Return packages with brand, location and the packages they replace or were split off
    joined (filter and order at the caller)."""
    return Package.objects.select_related("brand", "location", "replaces", "split_from")


def _package_detail_queryset() -> QuerySet[Package]:
    return (
        Package.objects.select_related("brand", "location", "replaces", "replacement", "split_from",
                                       "denial_reason")
        .prefetch_related(
            Prefetch("items", queryset=PackageItem.objects.select_related("sku").order_by("id")),
            Prefetch("transitions", queryset=PackageTransition.objects.order_by("id")),
        )
    )


def package_get(*, number: str) -> Package:
    """Return the package ``number`` with brand, location, items (+SKU) and transition log
    prefetched. Raises ``Package.DoesNotExist``."""
    return _package_detail_queryset().get(number=number)


def package_counts_by_status(*, location_id: int | None = None) -> dict[int, int]:
    """Return ``{status_code: count}`` with every one of the 17 codes (zeros included). 1 query."""
    qs = Package.objects.all()
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    counts = dict(qs.values_list("status").annotate(n=Count("*")).order_by())
    return {code: counts.get(code, 0) for code in Status.values}


def package_waiting_reason(package: Package) -> dict | None:
    """Explain why ``package`` waits where it waits, or None when it does not wait.

    Shapes:
    * Product Out of Stock: ``{"kind": "out_of_stock", "shortage": "short: SKU X needs 2, has 0",
      "last_checked_at": iso|None, "next_check_at": iso|None}``;
    * Pending Transfer: ``{"kind": "transfers", "open_transfers": [{"number", "status",
      "source", "items": [{"sku", "quantity"}]}]}`` (1 query);
    * To Be Rescheduled: ``{"kind": "needs_new_location", "denial_reason": str|None}``;
    * Pending Cancellation: ``{"kind": "cancellation_requested", "reason": str}``.
    """
    status = package.status
    if status == Status.PRODUCT_OUT_OF_STOCK:
        return {
            "kind": "out_of_stock",
            "shortage": package.stock_shortage,
            "last_checked_at": package.stock_checked_at.isoformat() if package.stock_checked_at else None,
            "next_check_at": (package.next_stock_check_at.isoformat()
                              if package.next_stock_check_at else None),
        }
    if status == Status.PENDING_TRANSFER:
        transfers = (Transfer.objects.filter(package=package, status__in=OPEN_STATES)
                     .select_related("source").prefetch_related("items__sku").order_by("pk"))
        return {
            "kind": "transfers",
            "open_transfers": [
                {"number": t.number, "status": t.status, "source": t.source.code,
                 "items": [{"sku": i.sku.code, "quantity": i.quantity} for i in t.items.all()]}
                for t in transfers
            ],
        }
    if status == Status.TO_BE_RESCHEDULED:
        return {"kind": "needs_new_location",
                "denial_reason": package.denial_reason.title if package.denial_reason_id else None}
    if status == Status.PENDING_CANCELLATION:
        return {"kind": "cancellation_requested", "reason": package.cancellation_reason}
    return None


# --- operator web UI -----------------------------------------------------------------------
# Every read below takes the requesting ``user`` and applies the visibility rule of
# ``locations.selectors`` (operators: their assigned locations; staff: all).

# The four open states of the Package Location Movements cards, in the card's order, with
# the annotation name each count gets.
MOVEMENT_STATES: dict[int, str] = {
    Status.PENDING: "waiting",
    Status.IN_PROGRESS: "preparing",
    Status.PENDING_TRANSFER: "waiting_transfer",
    Status.READY_TO_PACKAGING: "ready_to_package",
}
assert set(MOVEMENT_STATES) == set(DASHBOARD_LABELS)

# Card orders offered on the dashboard; ties are broken by code so pages never overlap.
MOVEMENT_SORTS: dict[str, tuple[str, tuple]] = {
    "waiting": (_("Most waiting first"), ("-waiting", "-open_total", "code")),
    "open": (_("Most open work first"), ("-open_total", "-waiting", "code")),
    "code": (_("Location code"), ("code",)),
    "name": (_("Location name"), ("name", "code")),
    "city": (_("City"), ("city", "code")),
}

# States in which the package has not left the location yet: ship-by still matters.
BEFORE_HANDOVER_STATES = frozenset({
    Status.PENDING, Status.IN_PROGRESS, Status.PENDING_TRANSFER, Status.READY_TO_PACKAGING,
    Status.PACKAGING_COMPLETED, Status.PENDING_SHIPPING_LABEL, Status.PENDING_INVOICE,
    Status.PRODUCT_OUT_OF_STOCK, Status.TO_BE_RESCHEDULED,
})

# Open packages (state-machine.md, "Planning and capacity"): the ones the ageing counts.
OPEN_PACKAGE_STATES = CAPACITY_STATES
assert AGEING_STATES == OPEN_PACKAGE_STATES | BEFORE_HANDOVER_STATES

HOUR = dt.timedelta(hours=1)
# Time an open package has been in its current state: key -> (label, from, to), from included,
# to excluded (None: unbounded). 59 min is "lt1h", 60 min "1-4h", 24 h "gt24h". The labels
# hold no-break spaces.
AGE_BUCKETS: dict[str, tuple[str, dt.timedelta | None, dt.timedelta | None]] = {
    "lt1h": (_("< 1 h"), None, HOUR),
    "1-4h": (_("1–4 h"), HOUR, 4 * HOUR),
    "4-24h": (_("4–24 h"), 4 * HOUR, 24 * HOUR),
    "gt24h": (_("≥ 24 h"), 24 * HOUR, None),
}


def package_age_q(age: str, *, now: dt.datetime) -> Q:
    """The packages in their current state for a time of bucket ``age`` (a key of
    ``AGE_BUCKETS``) at ``now``, as a condition on ``status_changed_at``. Raises KeyError
    for an unknown key."""
    _, at_least, under = AGE_BUCKETS[age]
    condition = Q()
    if at_least is not None:
        condition &= Q(status_changed_at__lte=now - at_least)
    if under is not None:
        condition &= Q(status_changed_at__gt=now - under)
    return condition


def package_late_q(*, now: dt.datetime) -> Q:
    """The packages past their ship-by at ``now`` that have not left the location (the
    list's LATE flag)."""
    return Q(ship_by__lt=now, status__in=list(BEFORE_HANDOVER_STATES))


# The figures every location dashboard shows beside its counts, in this order: its blocked
# packages (in any state), its open packages by time in their state (``AGE_BUCKETS``) and
# those past ship-by (``package_late_q``).
LOCATION_FIGURES = ("blocked", *AGE_BUCKETS, "late")


def _count_at_location(condition: Q) -> Subquery:
    """The number of packages meeting ``condition`` at the outer query's location, as an
    annotation of a ``StockLocation`` queryset (a correlated count; None when none: wrapped
    in a function, it would be grouped by and computed for every joined row)."""
    return Subquery(Package.objects.filter(condition, location=OuterRef("pk")).values("location")
                    .annotate(n=Count("*")).values("n"))


def location_figures(*, now: dt.datetime | None = None) -> dict[str, Subquery]:
    """``LOCATION_FIGURES`` at ``now`` as annotations of a ``StockLocation`` queryset (read
    them with ``location_figures_of``). Each is a correlated count read from a partial
    index alone (``package_blocked_idx``, ``package_ageing_idx``), so it costs a few index
    pages per location; on a sorted and sliced queryset PostgreSQL computes them after the
    sort, for the rows up to the slice's end only."""
    now = now or timezone.now()
    # said explicitly so that the planner reads package_ageing_idx, whose condition it is
    ageing = Q(status__in=sorted(AGEING_STATES))
    open_packages = ageing & Q(status__in=sorted(OPEN_PACKAGE_STATES))
    return {
        "blocked": _count_at_location(Q(blocked_at__isnull=False)),
        **{age: _count_at_location(open_packages & package_age_q(age, now=now)) for age in AGE_BUCKETS},
        "late": _count_at_location(ageing & package_late_q(now=now)),
    }


def location_figures_of(location: StockLocation) -> dict[str, int]:
    """``{"blocked": n, "lt1h": n, "1-4h": n, "4-24h": n, "gt24h": n, "late": n}`` of a
    location annotated with ``location_figures``."""
    return {name: getattr(location, name) or 0 for name in LOCATION_FIGURES}


def package_ageing_by_location(*, location_ids: list[int], now: dt.datetime | None = None
                               ) -> dict[int, dict[str, int]]:
    """Return ``{location_id: {"lt1h": n, "1-4h": n, "4-24h": n, "gt24h": n, "late": n}}``
    for ``location_ids`` (zeros included): the ageing of ``location_figures`` at ``now``.
    1 query."""
    figures = location_figures(now=now)
    del figures["blocked"]
    result = {location_id: dict.fromkeys(figures, 0) for location_id in location_ids}
    rows = StockLocation.objects.filter(pk__in=location_ids).order_by().annotate(**figures)
    for row in rows.values("pk", *figures):
        result[row["pk"]] = {name: row[name] or 0 for name in figures}
    return result


def package_location_get_for_user(*, user, code: str, now: dt.datetime | None = None) -> StockLocation:
    """``stock_location_get``'s location annotated with ``location_figures`` at ``now``
    (1 query). Raises ``StockLocation.DoesNotExist`` as it does."""
    return stock_location_list(user=user).annotate(**location_figures(now=now)).get(code=code)


# Package list orders: label and order_by.
PACKAGE_SORTS: dict[str, tuple[str, tuple]] = {
    "in_state": (_("Longest in state first"), ("status_changed_at", "pk")),
    "recent": (_("Most recently changed first"), ("-status_changed_at", "-pk")),
    "ship_by": (_("Earliest ship-by first"), (F("ship_by").asc(nulls_last=True), "pk")),
    "number": (_("Package number"), ("number",)),
    "newest": (_("Newest package first"), ("-pk",)),
}

# States after ship in which the shipping ticket is shown.
TICKET_STATES = frozenset({
    Status.PENDING_SHIPPING_LABEL, Status.PENDING_INVOICE, Status.SHIPPED,
    Status.DELIVERY_FAILED, Status.DELIVERY_ATTEMPTED, Status.DELIVERED,
})


def package_list_for_user(*, user) -> QuerySet[Package]:
    """Return ``package_list()`` narrowed to the locations ``user`` may see."""
    return locations_restrict(package_list(), user=user)


def package_get_for_user(*, user, number: str) -> Package:
    """Return ``package_get(number=…)``'s package if ``user`` may see its location.

    Raises ``Package.DoesNotExist`` for an unknown number and for a package at a location
    the user may not see alike (the page answers 404 either way). 3 queries.
    """
    return locations_restrict(_package_detail_queryset(), user=user).get(number=number)


def _movement_locations(*, user, q: str = "", include_empty: bool = False) -> QuerySet[StockLocation]:
    locations = stock_location_list(user=user)
    q = (q or "").strip()
    if q:
        locations = locations.filter(Q(code__icontains=q) | Q(name__icontains=q)
                                     | Q(city__icontains=q) | Q(region__iexact=q))
    if not include_empty:
        locations = locations.filter(Exists(Package.objects.filter(location=OuterRef("pk"))))
    return locations


def package_location_movements(*, user, q: str = "", sort: str = "waiting",
                               include_empty: bool = False, now: dt.datetime | None = None
                               ) -> QuerySet[StockLocation]:
    """Return the Package Location Movements cards: visible stock locations annotated with
    ``waiting``, ``preparing``, ``waiting_transfer``, ``ready_to_package`` (package counts in
    Pending, In Progress, Pending Transfer, Ready to Packaging), ``open_total`` (their sum)
    and ``location_figures`` at ``now`` (blocked, ageing, late).

    ``q`` searches code, name and city (contains) and region (exact); ``sort`` is a key of
    ``MOVEMENT_SORTS`` (unknown keys fall back to ``"waiting"``: most Pending first).
    Locations without any package are left out unless ``include_empty``. The counts come
    from one grouped query over the four states only (a filtered join read from the
    ``package_open_work_idx`` index alone: the counts name ``status``, which it holds), so a
    page of cards costs one query whatever its size. The figures are correlated counts
    beside that grouping, not in it: grouped, they would join every location's packages in
    ten states (and read the table for ``blocked_at``); sliced, they are computed for the
    page's locations (and those before it) after the sort. Count the cards with
    ``package_movement_location_count`` (the same locations without the join).
    """
    locations = _movement_locations(user=user, q=q, include_empty=include_empty).annotate(
        open_work=FilteredRelation(
            "packages", condition=Q(packages__status__in=list(MOVEMENT_STATES))),
    )
    counts = {name: Count("open_work__status", filter=Q(open_work__status=code))
              for code, name in MOVEMENT_STATES.items()}
    ordering = MOVEMENT_SORTS.get(sort, MOVEMENT_SORTS["waiting"])[1]
    return (locations.annotate(**counts, open_total=Count("open_work__status"))
            .annotate(**location_figures(now=now)).order_by(*ordering))


def package_movement_location_count(*, user, q: str = "", include_empty: bool = False) -> int:
    """Return how many cards ``package_location_movements`` yields for the same arguments.
    1 query (counting the annotated cards would join and group the open packages again)."""
    return _movement_locations(user=user, q=q, include_empty=include_empty).count()


# The blocked packages' row among the totals' rows by state (no state has this code).
BLOCKED_KEY = 0


def package_movement_totals(*, user, q: str = "", include_empty: bool = False) -> dict[str, int]:
    """Return the sums of the cards' counts over every location the search finds
    (``{"waiting": n, …, "open_total": n, "blocked": n}``). 1 query, the union of the open
    packages of the visible locations (of those ``q`` finds, if given) by state, on the
    ``package_open_work_idx`` index, and the count of the blocked ones (in any state) on
    ``package_blocked_idx`` (one condition for both would read the table). ``include_empty``
    changes no sum (a location with an open package has a package); it is accepted for
    symmetry with the cards."""
    def restrict(packages):
        packages = locations_restrict(packages, user=user)
        if (q or "").strip():
            packages = packages.filter(location__in=_movement_locations(
                user=user, q=q, include_empty=True).order_by().values("pk"))
        return packages.order_by()

    by_state = restrict(Package.objects.filter(status__in=list(MOVEMENT_STATES))).values_list("status")
    blocked = restrict(Package.objects.filter(blocked_at__isnull=False)).values_list(Value(BLOCKED_KEY))
    counts = dict(by_state.annotate(n=Count("*")).union(blocked.annotate(n=Count("*")), all=True))
    totals = {name: counts.get(code, 0) for code, name in MOVEMENT_STATES.items()}
    return {**totals, "open_total": sum(totals.values()), "blocked": counts.get(BLOCKED_KEY, 0)}


def package_blocked_count_for_user(*, user, location_id: int | None = None) -> int:
    """How many blocked packages ``user`` may see (at ``location_id`` if given). 1 query."""
    qs = locations_restrict(Package.objects.filter(blocked_at__isnull=False), user=user)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    return qs.count()


def package_counts_by_status_for_user(*, user, location_id: int | None = None) -> dict[int, int]:
    """As ``package_counts_by_status``, over the packages ``user`` may see. 1 query."""
    qs = locations_restrict(Package.objects.all(), user=user)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    counts = dict(qs.values_list("status").annotate(n=Count("*")).order_by())
    return {code: counts.get(code, 0) for code in Status.values}


def package_search(*, user, location_id: int | None = None, status: int | None = None,
                   q: str = "", sort: str = "in_state", blocked: bool | None = None,
                   order_number: str = "", now: dt.datetime | None = None, open_only: bool = False,
                   age: str | None = None, late: bool | None = None) -> QuerySet[Package]:
    """Return the packages of the package list: visible to ``user``, optionally at one
    location, in one state, blocked or not (``blocked``; None: either) and of one order
    (``order_number``, exact), matching ``q``, ordered by ``sort`` (a key of
    ``PACKAGE_SORTS``; default longest in its state first). ``open_only``: only open packages
    (``OPEN_PACKAGE_STATES``); ``age``: only those in their state for a time of that
    ``AGE_BUCKETS`` key at ``now``; ``late``: only those past ship-by (``package_late_q``), or
    only those not (False). The dashboards' ageing figures are these filters.

    ``q`` matches the package number, order number and tracking number (contains, any case)
    and the SKU code of any item (contains). Rows carry ``brand`` and ``location`` and the
    annotations ``units`` (sum of item quantities) and ``is_late`` (ship-by passed at
    ``now`` while the package has not left the location), so a page of rows is one query.
    """
    now = now or timezone.now()
    qs = package_list_for_user(user=user)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    if status is not None:
        qs = qs.filter(status=status)
    if blocked is not None:
        qs = qs.filter(blocked_at__isnull=not blocked)
    if open_only:
        qs = qs.filter(status__in=sorted(OPEN_PACKAGE_STATES))
    if age is not None:
        qs = qs.filter(package_age_q(age, now=now))
    if late is not None:
        qs = qs.filter(package_late_q(now=now)) if late else qs.exclude(package_late_q(now=now))
    if order_number:
        qs = qs.filter(order_number=order_number)
    q = (q or "").strip()
    if q:
        sku_match = PackageItem.objects.filter(package=OuterRef("pk"), sku__code__icontains=q)
        qs = qs.filter(Q(number__icontains=q) | Q(order_number__icontains=q)
                       | Q(tracking_number__icontains=q) | Exists(sku_match))
    units = (PackageItem.objects.filter(package=OuterRef("pk")).order_by()
             .values("package").annotate(n=Sum("quantity")).values("n"))
    ordering = PACKAGE_SORTS.get(sort, PACKAGE_SORTS["in_state"])[1]
    return qs.annotate(
        units=Coalesce(Subquery(units), 0),
        is_late=Case(
            When(ship_by__lt=now, status__in=list(BEFORE_HANDOVER_STATES), then=Value(True)),
            default=Value(False), output_field=BooleanField(),
        ),
    ).order_by(*ordering)


def package_item_rows(package: Package) -> list[dict]:
    """Return one row per item with the location's stock of its SKU:
    ``[{"item": PackageItem, "stock": StockLevel | None, "short": bool}]``.

    ``short`` marks, for a Product Out of Stock package (which holds no reservation), an
    item the location cannot cover now. Reads ``package.items`` (prefetched by
    ``package_get``) and the stock rows in 1 query.
    """
    items = list(package.items.all())
    levels = stock_levels_for_skus(location_id=package.location_id, sku_ids=[i.sku_id for i in items])
    waiting_for_stock = package.status == Status.PRODUCT_OUT_OF_STOCK
    rows = []
    for item in items:
        stock = levels.get(item.sku_id)
        short = waiting_for_stock and (stock is None or stock.available < item.quantity)
        rows.append({"item": item, "stock": stock, "short": short})
    return rows


def package_order_packages(package: Package) -> list[Package]:
    """Return the other packages of ``package``'s order (all locations), oldest first, with
    ``split_from_id`` (those split off ``package`` among them). 1 query."""
    return list(
        Package.objects.filter(order_number=package.order_number).exclude(pk=package.pk)
        .select_related("location").only("number", "status", "split_from", "location__code",
                                         "location__name")
        .order_by("pk")
    )


SPLITTING_ACTIONS = ("split", "report_missing_items")


def package_split_into(package: Package) -> list[str]:
    """The numbers of the packages split off ``package`` (``split``, ``report_missing_items``),
    oldest first, as its transition log names them (``payload["packages"]``; reads the
    prefetched ``transitions``, else 1 query)."""
    return [entry["number"] for transition in package.transitions.all()
            if transition.action in SPLITTING_ACTIONS and isinstance(transition.payload, dict)
            for entry in transition.payload.get("packages", []) if isinstance(entry, dict)]


def package_is_late(package: Package, *, now: dt.datetime | None = None) -> bool:
    """Return True when ``package``'s ship-by has passed and it has not left the location."""
    now = now or timezone.now()
    return bool(package.ship_by and package.ship_by < now and package.status in BEFORE_HANDOVER_STATES)


def package_has_shipping_ticket(package: Package) -> bool:
    """Return True once ``ship`` has run: the package carries a tracking number and is in a
    state after Packaging Completed on the shipping path."""
    return bool(package.tracking_number) and package.status in TICKET_STATES


def package_last_transition(*, package_id: int) -> PackageTransition | None:
    """Return the newest transition-log row of a package, or None. 1 query."""
    return PackageTransition.objects.filter(package_id=package_id).order_by("-id").first()


def package_block_reasons(*, numbers: list[str]) -> dict[str, str]:
    """Return ``{package number: block reason}`` for the packages numbered ``numbers`` that
    are blocked now (the reason may be ""). 1 query."""
    return dict(Package.objects.filter(number__in=numbers, blocked_at__isnull=False)
                .values_list("number", "block_reason"))


def package_last_transitions(*, numbers: list[str]) -> dict[str, PackageTransition]:
    """Return ``{package number: its newest transition-log row}`` for the packages numbered
    ``numbers`` that have one (with ``package`` joined). 1 query."""
    newest = (PackageTransition.objects.filter(package__number__in=numbers).order_by()
              .values("package_id").annotate(newest=Max("id")).values("newest"))
    rows = PackageTransition.objects.filter(id__in=Subquery(newest)).select_related("package")
    return {row.package.number: row for row in rows}


def scan_variants(code: str) -> list[str]:
    """``code`` as given, upper-cased and lower-cased, each once, in that order: the values an
    exact look-up tries so that a scanner or keyboard in another case still finds the row."""
    return list(dict.fromkeys((code, code.upper(), code.lower())))


def package_find_for_user(*, user, code: str) -> tuple[str, list[str], str]:
    """Resolve a scanned or typed ``code`` among the packages ``user`` may see, exactly but in
    any case (``scan_variants``; a value in the case given wins over one in another case):
    ``("package", [number], "")`` for a package number, a tracking number or the content of
    a shipping ticket's barcode (which encodes those two); ``("order", [number, …],
    order_number)`` for an order number (up to 2 packages: one, or "several"; the order
    number as stored); ``("", [], "")`` when nothing matches exactly.

    Indexed look-ups only (``number = ANY(…)`` on the unique number, the tracking number and
    the order number indexes): at most 3 queries.
    """
    visible = locations_restrict(Package.objects.all(), user=user)
    if not code:
        return "", [], ""
    variants = scan_variants(code)
    given_first = Case(When(number=code, then=Value(0)), default=Value(1))
    numbers = list(visible.filter(number__in=variants).order_by(given_first, "number")
                   .values_list("number", flat=True)[:1])
    if numbers:
        return "package", numbers, ""
    # the index holds the packages with a tracking number only: said explicitly so that a
    # prepared (generic) plan, which cannot see the value, may use it too
    given_first = Case(When(tracking_number=code, then=Value(0)), default=Value(1))
    numbers = list(visible.filter(tracking_number__in=variants).exclude(tracking_number="")
                   .order_by(given_first, "-id").values_list("number", flat=True)[:1])
    if numbers:
        return "package", numbers, ""
    # ordered so that the first two rows are of the same order whenever it has several packages
    given_first = Case(When(order_number=code, then=Value(0)), default=Value(1))
    rows = list(visible.filter(order_number__in=variants).order_by(given_first, "order_number")
                .values_list("order_number", "number")[:2])
    if rows:
        order_number = rows[0][0]
        return "order", [number for order, number in rows if order == order_number], order_number
    return "", [], ""
    numbers = list(visible.filter(number=code).values_list("number", flat=True)[:1])
    if numbers:
        return "package", numbers
    # the index holds the packages with a tracking number only: said explicitly so that a
    # prepared (generic) plan, which cannot see the value, may use it too
    numbers = list(visible.filter(tracking_number=code).exclude(tracking_number="")
                   .order_by("-id").values_list("number", flat=True)[:1])
    if numbers:
        return "package", numbers
    numbers = list(visible.filter(order_number=code).order_by().values_list("number", flat=True)[:2])
    if numbers:
        return "order", numbers
    return "", []
