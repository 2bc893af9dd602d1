"""Planning: choose the stock location of a package and hold its stock there, and say why.

A brand's planning rules (``PlanningRule``, edited in admin) are tried by ``position``. A
rule applies when its delivery type (if any) is the package's. Its candidates are the active
packaging locations of its include list (every one when the list is empty), minus its
exclude list, of its location kind (both when blank) and, with ``requires_capacity``, with
room for one more open package. It ranks them by its ``ranking`` keys in order, ties going
to the lowest location id:

* ``same_region``: in the package's delivery region first (a blank region matches nothing);
* ``stock``: holds the most of the package: whole lines, then units, then free units;
* ``fewest_open``: fewest open packages first;
* ``priority``: highest ``StockLocation.priority`` first.

The rule places the package at the first ranked candidate holding every item (Pending, the
units reserved); failing that, when the rule allows transfers, at the first ranked candidate
where transfers from other locations can bring the rest (Pending Transfer: the local part
reserved there, the transfers reserving at their sources, chosen by
``transfers.services.transfer_plan``). A rule that places nothing hands over to the next. When
no rule places the package it waits as Product Out of Stock (holding nothing) at the brand's
fallback location, else at the best-ranked candidate of the first rule that applied.

A brand without active rules plans with ``DEFAULT_RULE``: same region first, then the most
of the package in stock, transfers allowed, locations with capacity only. A location given by
the caller (``locations=``) is the only candidate, under the same default rule: Pending if it
holds every item, Pending Transfer if transfers can bring the rest, else Product Out of Stock
there.

Capacity: a candidate with a maximum is checked under its row lock (taken after the stock
rows: lock order packages, stock rows, locations) just before the package is made open,
and the counter rises in the same transaction (``packages.capacity``), so concurrent planners
never put more open packages at a location than it has room for. A candidate found full
(or out of stock) under the lock is passed over and the next one tried.

The planning record (``Package.planning``, shape in ``PlanningRecordSerializer`` of the API)
names the rule that decided, the location chosen, the outcome, a one-line summary, and per
rule tried the candidates passed over and why (``no_stock``, ``full``, ``excluded``,
``wrong_kind``, ``ranked_lower``; every location is counted, at most ``MAX_LISTED`` listed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Prefetch
from django.utils import timezone
from django.utils.translation import gettext_noop

from locations import services as stock
from locations.models import Sku, StockLevel, StockLocation
from locations.services import LocationFull, location_slot_take
from oms.actions.actors import Actor
from oms.actions.errors import InsufficientStock, OmsError
from oms.actions.messages import message
from oms.translation import untranslated
from packages.models import Brand, Package, PlanningRule, Status
from transfers.services import transfers_create_for_package

MAX_LISTED = 10  # candidates listed per rule in the planning record; all are counted
LISTED_AFTER_CHOSEN = 3  # of which ranked below the chosen one

Ranking = PlanningRule.Ranking


class NoLocation(OmsError):
    """No stock location can take the brand's package, not even to wait for stock (HTTP 409)."""

    code = "no_location"


@dataclass(frozen=True)
class Rule:
    """A planning rule as the planner reads it (from a ``PlanningRule`` row, or built in)."""

    id: int | None
    name: str
    delivery_type: str = ""
    include: frozenset[int] | None = None
    exclude: frozenset[int] = frozenset()
    kind: str = ""
    requires_capacity: bool = True
    ranking: tuple[str, ...] = (Ranking.SAME_REGION, Ranking.STOCK)
    allow_transfers: bool = True

    @classmethod
    def of(cls, row: PlanningRule) -> Rule:
        include = frozenset(location.pk for location in row.include_locations.all())
        return cls(id=row.pk, name=row.name, delivery_type=row.delivery_type,
                   include=include or None,
                   exclude=frozenset(location.pk for location in row.exclude_locations.all()),
                   kind=row.location_kind, requires_capacity=row.requires_capacity,
                   ranking=tuple(key for key in (row.ranking or []) if key in Ranking.values),
                   allow_transfers=row.allow_transfers)

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name}


DEFAULT_RULE = Rule(id=None, name=gettext_noop(
    "Default: same region first, then the most of the package in stock"))
GIVEN_RULE_NAME = gettext_noop("Location given by the caller")


@dataclass
class Candidate:
    """A stock location as read for planning (no lock); ``free`` is ``{sku_id: free units}``."""

    id: int
    code: str
    region: str
    kind: str
    priority: int
    open_packages: int
    max_open_packages: int | None
    free: dict[int, int] = field(default_factory=dict)

    @property
    def is_full(self) -> bool:
        return self.max_open_packages is not None and self.open_packages >= self.max_open_packages

    def full_text(self) -> str:
        return f"{self.code} is full: {self.open_packages} of {self.max_open_packages} open packages"

    def full_message(self) -> dict:
        return full_message(self.code, self.open_packages, self.max_open_packages)


@dataclass
class Placement:
    """Where planning put a package: its starting ``status`` at ``location``, the shortages
    met there (``{"sku", "needed", "available"}``), the ``reason`` for the log and the
    out-of-stock note, and the planning ``record`` (JSON)."""

    status: Status
    location: StockLocation
    shortages: list[dict]
    reason: str
    record: dict


def full_message(code: str, open_packages: int, max_open_packages: int) -> dict:
    """``full_text`` as a ``message`` (worded where it is shown)."""
    return message(gettext_noop("%(location)s is full: %(open)s of %(max)s open packages."),
                   location=code, open=open_packages, max=max_open_packages)


def shortages_message(shortages: Sequence[dict]) -> list[dict]:
    """One ``message`` per shortage dict (``sku``/``needed``/``available``)."""
    return [message(gettext_noop("SKU %(sku)s needs %(needed)s, has %(available)s"), **s) for s in shortages]


def shortage_message(shortages: Sequence[dict]) -> dict | None:
    """``shortage_text`` as a ``message``; None without shortages."""
    if not shortages:
        return None
    return message(gettext_noop("short: %(shortages)s"), shortages=shortages_message(shortages))


def shortage_text(shortages: Sequence[dict]) -> str:
    """Return ``"short: SKU X needs 2, has 0; …"`` for shortage dicts (``sku``/``needed``/``available``)."""
    if not shortages:
        return ""
    return ("short: " + "; ".join(
        f"SKU {s['sku']} needs {s['needed']}, has {s['available']}" for s in shortages))[:500]


def brand_rules(brand: Brand) -> list[Rule]:
    """The brand's active rules in the order they are tried; ``[DEFAULT_RULE]`` when it has
    none. 1 query, 3 with rules."""
    ids_only = StockLocation.objects.only("pk")
    rows = (PlanningRule.objects.filter(brand=brand, is_active=True).order_by("position", "pk")
            .prefetch_related(Prefetch("include_locations", queryset=ids_only),
                              Prefetch("exclude_locations", queryset=ids_only)))
    return [Rule.of(row) for row in rows] or [DEFAULT_RULE]


class PackagePlanner:
    """Plans one package: reads on construction (rules, candidates, stock; no lock), writes
    in ``place``.

    Args:
        brand: the package's brand (its rules and fallback location).
        lines: ``{sku_id: units}`` to place (each >= 1).
        delivery_type, region: the package's delivery type and delivery region.
        locations: the only candidates (a location given by the caller, or chosen by an
            operator); None: the brand's rules decide.
        within: location ids the result must be among (e.g. an API token's scope); None: any.
        exclude_location_ids: never these locations, neither as candidates nor as transfer
            sources.
        closing_location_id: a location where the caller closes one open package in the same
            transaction (the package being split): it counts one open package fewer there.
        codes: ``{sku_id: code}`` for the explanation (read when not given).
    """

    def __init__(self, *, brand: Brand, lines: Mapping[int, int], delivery_type: str,
                 region: str = "", locations: Sequence[StockLocation] | None = None,
                 within: Collection[int] | None = None, exclude_location_ids: Collection[int] = (),
                 codes: Mapping[int, str] | None = None, closing_location_id: int | None = None):
        self.brand, self.lines, self.delivery_type = brand, dict(lines), delivery_type
        self.region = region or ""
        self.within = frozenset(within) if within is not None else None
        self._instances: dict[int, StockLocation] = {}
        self._locked_shortages: dict[int, list[dict]] = {}
        self._found_full: dict[int, LocationFull] = {}  # candidates found full under lock
        self.exclude = frozenset(exclude_location_ids)
        self.closing_location_id = closing_location_id
        self.given = {location.pk: location for location in locations} if locations is not None else None
        if self.given is not None:
            self.rules = [Rule(id=None, name=GIVEN_RULE_NAME, include=frozenset(self.given),
                               ranking=())]
        else:
            self.rules = brand_rules(brand)
        self.codes = dict(codes) if codes is not None else dict(
            Sku.objects.filter(pk__in=list(self.lines)).values_list("pk", "code"))
        self.candidates = self._read_candidates(within)
        self._totals = self._read_stock()

    # --- reads ------------------------------------------------------------------------------

    def _applies(self, rule: Rule) -> bool:
        return not rule.delivery_type or rule.delivery_type == self.delivery_type

    def _read_candidates(self, within: Collection[int] | None) -> list[Candidate]:
        if self.given is not None:
            locations = StockLocation.objects.filter(pk__in=list(self.given))
        else:
            locations = StockLocation.objects.filter(is_active=True, can_package=True)
            included = [rule.include for rule in self.rules if self._applies(rule)]
            if included and all(ids is not None for ids in included):
                locations = locations.filter(pk__in=sorted(set().union(*included)))
        if within is not None:
            locations = locations.filter(pk__in=list(within))
        if self.exclude:
            locations = locations.exclude(pk__in=list(self.exclude))
        candidates = [Candidate(*row) for row in locations.order_by("pk").values_list(
            "pk", "code", "region", "kind", "priority", "open_packages", "max_open_packages")]
        for candidate in candidates:
            if candidate.id == self.closing_location_id:
                candidate.open_packages -= 1
        return candidates

    def _read_stock(self) -> dict[int, int]:
        """Fill each candidate's free units; return the free units of every active location
        (bar the excluded) per SKU, what transfers could bring. 1 query."""
        by_id = {candidate.id: candidate for candidate in self.candidates}
        totals: dict[int, int] = {}
        rows = (StockLevel.objects.filter(sku_id__in=list(self.lines), location__is_active=True,
                                          on_hand__gt=F("reserved"))
                .values_list("location_id", "sku_id", "on_hand", "reserved"))
        for location_id, sku_id, on_hand, reserved in rows:
            if location_id in self.exclude:
                continue
            totals[sku_id] = totals.get(sku_id, 0) + on_hand - reserved
            if location_id in by_id:
                by_id[location_id].free[sku_id] = on_hand - reserved
        return totals

    def _shortages(self, candidate: Candidate) -> list[dict]:
        return sorted(({"sku": self.codes.get(sku_id, str(sku_id)), "needed": quantity,
                        "available": candidate.free.get(sku_id, 0)}
                       for sku_id, quantity in self.lines.items()
                       if candidate.free.get(sku_id, 0) < quantity), key=lambda s: s["sku"])

    def _transfer_shortages(self) -> list[dict]:
        """What all active locations together lack (empty: transfers could cover it)."""
        return sorted(({"sku": self.codes.get(sku_id, str(sku_id)), "needed": quantity,
                        "available": self._totals.get(sku_id, 0)}
                       for sku_id, quantity in self.lines.items()
                       if self._totals.get(sku_id, 0) < quantity), key=lambda s: s["sku"])

    def _rank_key(self, rule: Rule) -> Callable[[Candidate], tuple]:
        def key(candidate: Candidate) -> tuple:
            parts: list[int] = []
            for name in rule.ranking:
                if name == Ranking.SAME_REGION:
                    parts.append(int(bool(self.region) and candidate.region == self.region))
                elif name == Ranking.STOCK:
                    held = [min(candidate.free.get(sku_id, 0), quantity)
                            for sku_id, quantity in self.lines.items()]
                    parts += [sum(units == quantity for units, quantity in zip(
                        held, self.lines.values(), strict=True)),
                        sum(held), sum(candidate.free.values())]
                elif name == Ranking.FEWEST_OPEN:
                    parts.append(-candidate.open_packages)
                elif name == Ranking.PRIORITY:
                    parts.append(candidate.priority)
            return (*(-part for part in parts), candidate.id)
        return key

    def _holding_text(self, candidate: Candidate) -> str:
        short = self._shortages(candidate)
        if not short:
            return "holds every item"
        return shortage_text(short)

    def _holding_message(self, candidate: Candidate) -> dict:
        return shortage_message(self._shortages(candidate)) or message(gettext_noop("holds every item"))

    # --- writes -----------------------------------------------------------------------------

    def place(self, actor: Actor, *, package_row: Callable[[StockLocation], Package],
              allow_transfers: bool = True) -> Placement:
        """Place the package: reserve its stock at the chosen location (or plan transfers to
        it), taking a slot there when the rule asks for capacity. ``package_row(location)``
        returns the package row with ``location`` assigned (not saved), creating it on first
        call if need be; it is called only when transfers are planned (they point to it).
        ``allow_transfers=False`` keeps the outcome to Pending or Product Out of Stock.

        Runs in the caller's transaction; each attempt at a candidate is a savepoint, rolled
        back when the candidate proves short or full under lock.
        Raises ``NoLocation`` when no location can take the package even to wait for stock.
        """
        record_rules: list[dict] = []
        fallback: tuple[Candidate, Rule] | None = None
        for rule in self.rules:
            if not self._applies(rule):
                record_rules.append({**rule.as_dict(), "outcome": "not_applicable",
                                     "note": f"only for {rule.delivery_type} packages",
                                     "note_message": message(gettext_noop("only for %(type)s packages"),
                                                             type=rule.delivery_type),
                                     "candidates": [], "passed_over": {}})
                continue
            attempt = _RuleAttempt(rule)
            for candidate in self.candidates:
                if rule.include is not None and candidate.id not in rule.include:
                    attempt.pass_over(candidate, "not_included", "not on the rule's include list",
                                      message(gettext_noop("not on the rule's include list")))
                elif candidate.id in rule.exclude:
                    attempt.pass_over(candidate, "excluded", "on the rule's exclude list",
                                      message(gettext_noop("on the rule's exclude list")))
                elif rule.kind and candidate.kind != rule.kind:
                    attempt.pass_over(candidate, "wrong_kind",
                                      f"a {candidate.kind}; the rule takes {rule.kind}s",
                                      message(gettext_noop("%(kind)s; the rule takes only %(rule_kind)s"),
                                              kind=message(StockLocation.Kind(candidate.kind).label),
                                              rule_kind=message(StockLocation.Kind(rule.kind).label)))
                else:
                    attempt.considered.append(candidate)
            attempt.considered.sort(key=self._rank_key(rule))
            if fallback is None and attempt.considered:
                fallback = (attempt.considered[0], rule)
            for candidate in attempt.considered:
                if rule.requires_capacity and candidate.is_full:
                    attempt.pass_over(candidate, "full", candidate.full_text(), candidate.full_message())
                else:
                    attempt.ranked.append(candidate)
            self._try(attempt, actor, package_row, allow_transfers=allow_transfers)
            record_rules.append(self._rule_record(attempt))
            if attempt.chosen is not None:
                candidate, status = attempt.chosen, attempt.status
                how = ("it holds every item" if status == Status.PENDING
                       else "transfers bring the missing units")
                who = (f"Location {candidate.code} given by the caller" if self.given is not None
                       else f'Rule "{rule.name}" chose {candidate.code}')
                said = CHOSEN_SUMMARIES[(self.given is not None, status == Status.PENDING)]
                shortages = [] if status == Status.PENDING else self._shortages_now(candidate)
                return Placement(status, self._location(candidate), shortages, shortage_text(shortages),
                                 self._record(rule, candidate.code, status, f"{who}: {how}.", record_rules,
                                              message(said, location=candidate.code, rule=rule.name)))
        return self._out_of_stock(fallback, record_rules)

    def _closing(self, candidate: Candidate) -> int:
        """Open packages the caller closes at ``candidate`` in this transaction (0 or 1)."""
        return int(candidate.id == self.closing_location_id)

    def _shortages_now(self, candidate: Candidate) -> list[dict]:
        """The candidate's shortages as last seen: under lock if it was tried, else as read."""
        return self._locked_shortages.get(candidate.id, self._shortages(candidate))

    def _try(self, attempt: _RuleAttempt, actor: Actor, package_row, *, allow_transfers: bool) -> None:
        """Try the rule's ranked candidates, the whole package first, then with transfers;
        set ``attempt.chosen``/``status`` on success and the reasons of the others."""
        rule = attempt.rule
        for candidate in attempt.ranked:
            if self._shortages(candidate) and self.given is None:
                attempt.fail(candidate, "no_stock", shortage_text(self._shortages(candidate)),
                             shortage_message(self._shortages(candidate)))
                continue
            try:
                with transaction.atomic():
                    stock.stock_reserve(location_id=candidate.id, lines=self.lines)
                    if rule.requires_capacity:
                        location_slot_take(location_id=candidate.id, closing=self._closing(candidate))
            except InsufficientStock as exc:
                self._locked_shortages[candidate.id] = exc.extra.get("shortages", [])
                attempt.fail(candidate, "no_stock", shortage_text(self._locked_shortages[candidate.id]),
                             shortage_message(self._locked_shortages[candidate.id]))
                continue
            except LocationFull as exc:
                self._found_full[candidate.id] = exc
                attempt.fail(candidate, "full", exc.detail, _full_error_message(exc))
                continue
            attempt.chosen, attempt.status = candidate, Status.PENDING
            return
        if not (rule.allow_transfers and allow_transfers):
            if attempt.ranked:
                attempt.note = "transfers not allowed"
                attempt.note_message = message(gettext_noop("transfers not allowed"))
            return
        missing_everywhere = self._transfer_shortages()
        if missing_everywhere:
            attempt.note = "transfers cannot bring the rest: " + shortage_text(missing_everywhere)
            attempt.note_message = _cannot_bring_message(missing_everywhere)
            return
        for candidate in attempt.ranked:
            if attempt.failures.get(candidate.id, ("",))[0] == "full":
                continue
            package = package_row(self._location(candidate))
            try:
                with transaction.atomic():
                    local = stock.stock_reserve_available(location_id=candidate.id, lines=self.lines)
                    missing = {sku_id: quantity - local.get(sku_id, 0)
                               for sku_id, quantity in self.lines.items()}
                    transfers_create_for_package(
                        package=package, lines={k: v for k, v in missing.items() if v > 0},
                        actor=actor, exclude_location_ids=self.exclude)
                    if rule.requires_capacity:
                        location_slot_take(location_id=candidate.id, closing=self._closing(candidate))
            except InsufficientStock as exc:
                attempt.note = ("transfers cannot bring the rest: "
                                + shortage_text(exc.extra.get("shortages", [])))
                attempt.note_message = _cannot_bring_message(exc.extra.get("shortages", []))
                return
            except LocationFull as exc:
                self._found_full[candidate.id] = exc
                attempt.fail(candidate, "full", exc.detail, _full_error_message(exc))
                continue
            attempt.chosen, attempt.status = candidate, Status.PENDING_TRANSFER
            return

    def _out_of_stock(self, fallback: tuple[Candidate, Rule] | None,
                      record_rules: list[dict]) -> Placement:
        """No rule placed the package: it waits, holding nothing, at the brand's fallback
        location (rules only, when inside ``within``), else at the best-ranked candidate of
        the first rule that applied."""
        location_id = self.brand.fallback_location_id
        if (self.given is None and location_id is not None
                and (self.within is None or location_id in self.within)):
            location = self.brand.fallback_location
            shortages = [s.as_dict() for s in stock.stock_shortages(location_id=location.pk,
                                                                    lines=self.lines)]
            reason = shortage_text(shortages)
            reason_message = shortage_message(shortages)
            where = f"{location.code}, the brand's fallback location"
            where_message = message(gettext_noop("%(location)s, the brand's fallback location"),
                                    location=location.code)
        elif fallback is not None:
            candidate, rule = fallback
            location = self._location(candidate)
            shortages = self._shortages_now(candidate)
            full = self._found_full.get(candidate.id)
            reason = (shortage_text(shortages) or (full.detail if full is not None else "")
                      or (candidate.full_text() if candidate.is_full else ""))
            reason_message = (shortage_message(shortages)
                              or (_full_error_message(full) if full is not None else None)
                              or (candidate.full_message() if candidate.is_full else None))
            where = f'{location.code}, the best-ranked candidate of rule "{rule.name}"'
            where_message = message(
                gettext_noop('%(location)s, the best-ranked candidate of rule "%(rule)s"'),
                location=location.code, rule=rule.name)
        else:
            raise NoLocation(f"No stock location can take packages of brand {self.brand.slug}: "
                             "give a location or change the brand's planning rules")
        if self.given is not None:
            summary = (f"Location {location.code} given by the caller: "
                       f"{reason or 'it cannot take the package now'}; "
                       "the package waits as Product Out of Stock.")
            said = _given_waits_message(location.code, reason_message, Status.PRODUCT_OUT_OF_STOCK)
            rule_ref = self.rules[0]
        else:
            summary = f"No rule could place the package; it waits as Product Out of Stock at {where}."
            said = message(gettext_noop("No rule could place the package; it waits as Product Out of "
                                        "Stock at %(where)s."), where=where_message)
            rule_ref = None
        record = self._record(rule_ref, location.code, Status.PRODUCT_OUT_OF_STOCK, summary, record_rules,
                              said)
        return Placement(Status.PRODUCT_OUT_OF_STOCK, location, shortages, reason, record)

    def _location(self, candidate: Candidate) -> StockLocation:
        """The candidate as a model instance (the given one, else read once: 1 query)."""
        if self.given is not None and candidate.id in self.given:
            return self.given[candidate.id]
        if candidate.id not in self._instances:
            self._instances[candidate.id] = StockLocation.objects.get(pk=candidate.id)
        return self._instances[candidate.id]

    # --- the record -------------------------------------------------------------------------

    def _record(self, rule: Rule | None, code: str, status: Status, summary: str,
                rules: list[dict], summary_message: dict) -> dict:
        return {
            "mode": "location_given" if self.given is not None else "rules",
            "rule": rule.as_dict() if rule is not None else None,
            "location": code,
            "outcome": Status(status).slug,
            "summary": summary,
            "summary_message": summary_message,
            "delivery_region": self.region,
            "planned_at": timezone.now().isoformat(),
            "rules": rules,
        }

    def _rule_record(self, attempt: _RuleAttempt) -> dict:
        """One rule's part of the record: candidates in rank order (the chosen one, those
        passed over before it and why, a few ranked below it), then those the rule filtered
        out; every candidate counted by verdict in ``passed_over``."""
        listed: list[dict] = []
        counts: dict[str, int] = {}

        def add(candidate: Candidate, verdict: str, detail: str, said: dict | None, *,
                list_it: bool = True) -> None:
            if verdict != "chosen":
                counts[verdict] = counts.get(verdict, 0) + 1
            if list_it and len(listed) < MAX_LISTED:
                listed.append({"location": candidate.code, "verdict": verdict, "detail": detail,
                               "detail_message": said})

        chosen, below = attempt.chosen, None
        for candidate in attempt.ranked:
            if candidate is chosen:
                if attempt.status == Status.PENDING:
                    add(candidate, "chosen", "holds every item", message(gettext_noop("holds every item")))
                else:
                    add(candidate, "chosen",
                        f"transfers bring the missing units; {self._holding_text(candidate)}",
                        message(gettext_noop("transfers bring the missing units; %(holding)s"),
                                holding=self._holding_message(candidate)))
                below = 0
            elif below is None:  # tried before the chosen one (or no one was chosen)
                add(candidate, *attempt.failures.get(candidate.id, (
                    "no_stock", self._holding_text(candidate), self._holding_message(candidate))))
            else:
                below += 1
                short = attempt.status == Status.PENDING and self._shortages(candidate)
                if short:
                    add(candidate, "no_stock", shortage_text(short), shortage_message(short),
                        list_it=below <= LISTED_AFTER_CHOSEN)
                else:
                    add(candidate, "ranked_lower",
                        f"ranked below {chosen.code}; {self._holding_text(candidate)}",
                        message(gettext_noop("ranked below %(location)s; %(holding)s"),
                                location=chosen.code, holding=self._holding_message(candidate)),
                        list_it=below <= LISTED_AFTER_CHOSEN)
        for verdict in ("full", "excluded", "wrong_kind"):  # not_included: not candidates at all
            for candidate in attempt.filtered.get(verdict, []):
                add(candidate, verdict, *attempt.filtered_detail[candidate.id])
        return {**attempt.rule.as_dict(),
                "outcome": "placed" if chosen is not None else "placed_nothing",
                "note": attempt.note, "note_message": attempt.note_message,
                "candidates": listed, "passed_over": counts}


@dataclass
class _RuleAttempt:
    """What happened to the candidates of one rule while planning."""

    rule: Rule
    considered: list[Candidate] = field(default_factory=list)  # passed the rule's filters, ranked
    ranked: list[Candidate] = field(default_factory=list)  # of those, with room (as read)
    filtered: dict[str, list[Candidate]] = field(default_factory=dict)  # verdict -> candidates
    filtered_detail: dict[int, tuple[str, dict]] = field(default_factory=dict)  # text, message
    failures: dict[int, tuple[str, str, dict]] = field(default_factory=dict)  # tried, short or full
    chosen: Candidate | None = None
    status: Status | None = None
    note: str = ""
    note_message: dict | None = None

    def pass_over(self, candidate: Candidate, verdict: str, detail: str, said: dict) -> None:
        self.filtered.setdefault(verdict, []).append(candidate)
        self.filtered_detail[candidate.id] = (detail, said)

    def fail(self, candidate: Candidate, verdict: str, detail: str, said: dict | None) -> None:
        self.failures[candidate.id] = (verdict, detail, said)


# The record's summary of a package placed by planning, by (location given, holds every item).
CHOSEN_SUMMARIES = {
    (True, True): gettext_noop("Location %(location)s given by the caller: it holds every item."),
    (True, False): gettext_noop("Location %(location)s given by the caller: transfers bring the "
                                "missing units."),
    (False, True): gettext_noop('Rule "%(rule)s" chose %(location)s: it holds every item.'),
    (False, False): gettext_noop('Rule "%(rule)s" chose %(location)s: transfers bring the missing units.'),
}


def _given_waits_message(code: str, reason: dict | None, status: Status) -> dict:
    """The summary of a package waiting at the location its creator gave, as a message."""
    return message(gettext_noop("Location %(location)s given by the caller: %(reason)s; the package "
                                "waits as %(state)s."), location=code,
                   reason=reason or message(gettext_noop("it cannot take the package now")),
                   state=message(Status(status).label))


def _shortages_of(reason: str) -> list[dict] | None:
    """The shortage dicts a ``shortage_text`` was made of (``[]`` for ``""``); None for a text
    of another shape (or one cut at its length limit)."""
    if not reason:
        return []
    found = [re.fullmatch(r"SKU (\S+) needs (\d+), has (\d+)", part)
             for part in reason.removeprefix("short: ").split("; ")]
    if not reason.startswith("short: ") or not all(found):
        return None
    return [{"sku": m[1], "needed": int(m[2]), "available": int(m[3])} for m in found]


def _full_error_message(exc: LocationFull) -> dict:
    return full_message(exc.extra["location"], exc.extra["open_packages"], exc.extra["max_open_packages"])


def _cannot_bring_message(shortages: Sequence[dict]) -> dict:
    return message(gettext_noop("transfers cannot bring the rest: %(shortages)s"),
                   shortages=shortages_message(shortages))


def given_location_record(code: str, status: Status, reason: str = "", *, now=None,
                          region: str = "") -> dict:
    """The planning record of a package placed at the location its creator gave, without
    weighing candidates (bulk creation's set-based path): same shape as ``PackagePlanner``'s.
    ``reason``: why it waits, a ``shortage_text`` (its shortages are read back from it for
    the summary's ``message``; another text leaves the record without one)."""
    status = Status(status)
    if status == Status.PENDING:
        summary = f"Location {code} given by the caller: it holds every item."
        said = message(CHOSEN_SUMMARIES[(True, True)], location=code)
    else:
        summary = (f"Location {code} given by the caller: {reason or 'it cannot take the package now'}; "
                   f"the package waits as {untranslated(status.label)}.")
        shortages = _shortages_of(reason)
        said = (_given_waits_message(code, shortage_message(shortages), status)
                if shortages is not None else None)
    return {"mode": "location_given", "rule": {"id": None, "name": GIVEN_RULE_NAME},
            "location": code, "outcome": status.slug, "summary": summary, "summary_message": said,
            "delivery_region": region,
            "planned_at": (now or timezone.now()).isoformat(), "rules": []}


def planning_explanation(record: dict | None) -> dict | None:
    """The planning record as the API gives it (``PlanningRecordSerializer``): its English
    sentences, without the ``*_message`` parts a screen words in its language; None for
    none."""
    if not record:
        return None

    def plain(part: dict) -> dict:
        return {key: value for key, value in part.items() if not key.endswith("_message")}

    answer = plain(record)
    if "rules" in answer:
        answer["rules"] = [{**plain(rule), "candidates": [plain(c) for c in rule.get("candidates", [])]}
                           for rule in answer["rules"]]
    return answer


def package_place(package: Package, lines: Mapping[int, int], actor: Actor, *,
                  locations: Sequence[StockLocation] | None = None,
                  within: Collection[int] | None = None, exclude_location_ids: Collection[int] = (),
                  allow_transfers: bool = True) -> Placement:
    """Plan an existing package row anew (``PackagePlanner`` then ``place``): its brand,
    delivery type and delivery region, ``lines`` (``{sku_id: units}``). The package's
    ``location`` is assigned in memory (not saved); the caller writes the placement's status,
    location and record (e.g. through the engine). The row must not be open while planned
    (its slot is taken here). Raises ``NoLocation``."""
    planner = PackagePlanner(brand=package.brand, lines=lines, delivery_type=package.delivery_type,
                             region=package.delivery_region, locations=locations, within=within,
                             exclude_location_ids=exclude_location_ids,
                             codes={item.sku_id: item.sku.code for item in package.items.all()})

    def package_row(location: StockLocation) -> Package:
        package.location = location
        return package

    placement = planner.place(actor, package_row=package_row, allow_transfers=allow_transfers)
    package.location = placement.location
    return placement
