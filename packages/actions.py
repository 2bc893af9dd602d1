"""The package actions, each declared once: who may run it, its input, its stock effect,
its label, whether it is the package page's main button, the fields it writes.

Source: the "Package actions" table of ``docs/state-machine.md``; sources and targets are
not repeated here, they live on the django-fsm transitions of ``Package``. The engine
(``packages.engine.package_act``) runs them; the API, the operator and admin forms,
``allowed_actions`` and the published graph are derived from ``ACTIONS``.

Each ``run(package, actor, **inputs)`` gets the locked package (brand and location joined,
items with their SKUs prefetched), after the engine checked who may run it, the brand's
switch and the source state; it checks the input, makes the stock effect and returns the
``Step`` (transition arguments, log reason and payload, follow-ups).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django import forms
from django.db.models import F, OuterRef, Prefetch, Subquery, Sum, prefetch_related_objects
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from locations import services as stock
from locations.models import StockLevel, StockLocation
from oms.actions.actors import Actor
from oms.actions.declaration import Action, Step, actions_by_name
from oms.actions.errors import ActionNotAllowed, InsufficientStock, InvalidInput, OmsError
from oms.actions.inputs import StrictInputSerializer
from oms.api.schema import StrictBooleanField, StrictCharField, StrictIntegerField, StrictURLField
from packages.creation import (
    TRACKING_NUMBER_RE,
    ItemInput,
    out_of_stock_fields,
    package_create,
)
from packages.events import (
    PACKAGE_BLOCKED,
    PACKAGE_INVOICE_UPDATED,
    PACKAGE_MISSING_ITEMS_REPORTED,
    PACKAGE_SHIPMENT_UPDATED,
    PACKAGE_UNBLOCKED,
)
from packages.models import (
    CAPACITY_STATES,
    PICKED_STATES,
    RESERVING_STATES,
    DenialReason,
    Package,
    PackageItem,
    PackageTransition,
    Status,
)
from packages.planning import NoLocation, package_place
from transfers.services import transfer_placement_units, transfers_cancel_open_for_package

MAX_QUANTITY = 100_000
MAX_ITEMS = 500
MAX_SPLIT_PARTS = 50  # locations one split may name
MAX_FORM_PARTS = 4  # parts the operator's split form offers
MAX_LOCATION_SUGGESTIONS = 50  # locations the split form suggests
PG_BIGINT_MAX = 9_223_372_036_854_775_807


# --- inputs ------------------------------------------------------------------------------

class ReasonInput(StrictInputSerializer):
    """``{"reason": str (optional, <= 255)}``, stored in the transition log."""

    reason = StrictCharField(max_length=255, required=False, allow_blank=True)


class ReportedItems(serializers.ListSerializer):
    """The reported items. As a form: a quantity (0 to what it holds) per item of the
    package, or, for many packages (the admin), one ``SKU quantity`` line per SKU."""

    def form_fields(self, package) -> dict:
        self.form_package = package
        if package is None:
            return {"items": forms.CharField(
                widget=forms.Textarea(attrs={"rows": 4}),
                help_text="One line per SKU: the SKU code, a space, the number of units (e.g. 'ABC123 1').")}
        return {f"qty_{item.pk}": forms.IntegerField(
            min_value=0, max_value=item.quantity, initial=0, required=False,
            label=item.sku.code + (f" — {item.sku.name}" if item.sku.name else ""),
            help_text=gettext("of %(quantity)s") % {"quantity": item.quantity})
            for item in package.items.all()}

    def form_value(self, cleaned: dict) -> dict[str, int]:
        """``{"SKU": quantity}`` from the form. Raises ``forms.ValidationError``."""
        if "items" in cleaned:
            return _sku_quantity_lines(cleaned["items"])
        codes = {f"qty_{item.pk}": item.sku.code for item in self.form_package.items.all()}
        chosen = {codes[name]: quantity for name, quantity in cleaned.items()
                  if name in codes and quantity}
        if not chosen:
            raise forms.ValidationError(gettext("Choose at least one item and how many units."))
        return chosen


def _sku_quantity_lines(text: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9]+", parts[1]):
            raise forms.ValidationError(
                f"Line {number}: expected 'SKU quantity' with a whole number, got {line!r}.")
        if int(parts[1]) < 1:
            raise forms.ValidationError(f"Line {number}: the quantity must be at least 1.")
        result[parts[0]] = result.get(parts[0], 0) + int(parts[1])
    if not result:
        raise forms.ValidationError("Name at least one SKU.")
    return result


class ItemInputSerializer(StrictInputSerializer):
    """``{"sku": code, "quantity": whole units >= 1}``."""

    class Meta:
        list_serializer_class = ReportedItems

    sku = StrictCharField(max_length=64)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class ReportItemsInput(StrictInputSerializer):
    """``{"items": [{"sku": code, "quantity": units}, …]}``: the units not found / defective.
    Operators give a quantity per item of the package; the admin one ``SKU quantity`` line
    per SKU (``oms.actions.forms``)."""

    items = ItemInputSerializer(many=True, min_length=1, max_length=MAX_ITEMS)


class LocationCodeInput(forms.TextInput):
    """A stock location code typed in, with suggestions (an HTML ``<datalist>`` of
    ``(code, label)`` pairs)."""

    def __init__(self, suggestions: Sequence[tuple[str, str]], list_id: str):
        super().__init__(attrs={"list": list_id, "autocomplete": "off", "class": "location-code"})
        self.suggestions, self.list_id = list(suggestions), list_id

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.suggestions)
        return html + format_html('<datalist id="{}">{}</datalist>', self.list_id, options)


def _split_location_suggestions(package) -> list[tuple[str, str]]:
    """The package's location, then the active packaging locations with the most free units
    of its SKUs (at most ``MAX_LOCATION_SUGGESTIONS``), as ``(code, label)``. 1 query."""
    rows = (StockLevel.objects.filter(
                sku_id__in=[item.sku_id for item in package.items.all()], location__is_active=True,
                location__can_package=True, on_hand__gt=F("reserved"))
            .exclude(location_id=package.location_id)
            .values("location__code").annotate(free=Sum(F("on_hand") - F("reserved")))
            .order_by("-free", "location__code")[:MAX_LOCATION_SUGGESTIONS])
    here = package.location.code
    return [(here, gettext("%(code)s — this package's location") % {"code": here}),
            *((row["location__code"], gettext("%(code)s — %(free)s free units of these SKUs")
               % {"code": row["location__code"], "free": row["free"]}) for row in rows)]


class SplitParts(serializers.ListSerializer):
    """The parts of a split. As the operator's form (one package; no admin form): per part
    (up to ``MAX_FORM_PARTS``) a location code, with suggestions, and a quantity per item of
    the package; part 1 starts at the package's location with every unit."""

    def form_fields(self, package) -> dict:
        if package is None:
            raise TypeError("a split is assigned per package: it has no form for many packages")
        self.form_package = package
        items = list(package.items.all())
        suggestions = _split_location_suggestions(package)
        units = sum(item.quantity for item in items)
        fields: dict[str, forms.Field] = {}
        for part in range(1, min(max(units, 2), MAX_FORM_PARTS) + 1):
            fields[f"part{part}_location"] = forms.CharField(
                max_length=64, required=False,
                label=gettext("Part %(part)s: location") % {"part": part},
                initial=package.location.code if part == 1 else "",
                widget=LocationCodeInput(suggestions, list_id=f"split-locations-{part}"))
            for item in items:
                label = gettext("Part %(part)s: %(sku)s (of %(quantity)s)") % {
                    "part": part, "sku": item.sku.code, "quantity": item.quantity}
                fields[f"part{part}_qty_{item.pk}"] = forms.IntegerField(
                    min_value=0, max_value=item.quantity, required=False,
                    initial=item.quantity if part == 1 else 0, label=label,
                    widget=forms.NumberInput(attrs={"aria-label": label}))
        return fields

    def form_value(self, cleaned: dict) -> list[dict]:
        """``[{"location": code, "items": [{"sku", "quantity"}]}]`` from the form (parts
        without units left out). Raises ``forms.ValidationError``."""
        items = list(self.form_package.items.all())
        parts, assigned = [], dict.fromkeys((item.pk for item in items), 0)
        part = 1
        while f"part{part}_location" in cleaned:
            code = (cleaned.get(f"part{part}_location") or "").strip()
            lines = [(item, cleaned.get(f"part{part}_qty_{item.pk}") or 0) for item in items]
            chosen = [{"sku": item.sku.code, "quantity": quantity} for item, quantity in lines if quantity]
            if chosen and not code:
                raise forms.ValidationError(
                    gettext("Part %(part)s: name the location of its units.") % {"part": part})
            if chosen:
                parts.append({"location": code, "items": chosen})
                for item, quantity in lines:
                    assigned[item.pk] += quantity
            part += 1
        for item in items:
            if assigned[item.pk] != item.quantity:
                raise forms.ValidationError(
                    gettext("SKU %(sku)s: %(assigned)s of %(quantity)s units assigned; assign every "
                            "unit exactly once.") % {"sku": item.sku.code, "assigned": assigned[item.pk],
                                                     "quantity": item.quantity})
        return parts


def split_form_grid(form, package) -> dict:
    """The split form's fields laid out for the operator screen: ``{"locations": [bound
    location field per part], "rows": [{"item", "cells": [bound quantity field per part]}],
    "rest": [other bound fields]}``."""
    parts = sorted({int(name[4:name.index("_")]) for name in form.fields if name.startswith("part")})
    gridded = set()
    locations = [form[f"part{part}_location"] for part in parts]
    rows = []
    for item in package.items.all():
        cells = [form[f"part{part}_qty_{item.pk}"] for part in parts]
        rows.append({"item": item, "cells": cells})
        gridded |= {cell.name for cell in cells}
    gridded |= {field.name for field in locations}
    return {"locations": locations, "rows": rows,
            "rest": [form[name] for name in form.fields if name not in gridded]}


class SplitPartInput(StrictInputSerializer):
    """One part of a split: ``{"location": code, "items": [{"sku": code, "quantity": units}, …]}``."""

    class Meta:
        list_serializer_class = SplitParts

    location = StrictCharField(max_length=64)
    items = ItemInputSerializer(many=True, min_length=1, max_length=MAX_ITEMS)


class SplitInput(StrictInputSerializer):
    """``{"parts": [{"location": code, "items": [{"sku": code, "quantity": units}, …]}, …],
    "require_pending": bool (optional, false)}``: every unit of the package in exactly one
    part, one part per stock location (for an API token, among its locations: the
    ``locations`` of the context, as for reassign_location). ``require_pending``: every part
    must start Pending (its location has every unit and room), else the split is refused
    (409 ``insufficient_stock`` / ``location_full``) and nothing is written."""

    parts = SplitPartInput(many=True, min_length=1, max_length=MAX_SPLIT_PARTS)
    require_pending = StrictBooleanField(
        required=False, default=False, label="Only if every part can start Pending",
        help_text="Refuse the whole split when a location lacks units of its part or is full.")

    def validate_parts(self, parts: list[dict]) -> list[dict]:
        codes = [part["location"] for part in parts]
        if len(set(codes)) != len(codes):
            raise serializers.ValidationError("Each location at most once: put its items in one part.")
        locations = self.context.get("locations")
        if locations is not None:
            known = set(locations.filter(code__in=codes).values_list("code", flat=True))
            unknown = [code for code in codes if code not in known]
            if unknown:
                raise serializers.ValidationError(f"Unknown stock location(s): {', '.join(unknown)}.")
        return parts


class ShipInput(StrictInputSerializer):
    """``{"carrier": str, "tracking_number": str}`` (both required, <= 64 characters; the
    tracking number printable ASCII without spaces)."""

    carrier = StrictCharField(max_length=64)
    tracking_number = StrictCharField(
        max_length=64, pattern=TRACKING_NUMBER_RE.pattern, help_text="Printable ASCII without spaces.",
        pattern_message="Use printable ASCII without spaces (it is printed as a barcode).")


class AttachInvoiceInput(StrictInputSerializer):
    """``{"invoice_number": str, "invoice_date": "YYYY-MM-DD", "invoice_url": url (optional)}``."""

    invoice_number = StrictCharField(max_length=64)
    invoice_date = serializers.DateField()
    invoice_url = StrictURLField(max_length=500, required=False, allow_blank=True,
                                 label="Invoice document URL")


class BlockInput(StrictInputSerializer):
    """``{"reason": str}`` (required, <= 255): why the package is put on hold."""

    reason = StrictCharField(max_length=255)


class DeliveryFailedInput(StrictInputSerializer):
    """``{"reason": str}`` (required): why the carrier could not deliver."""

    reason = StrictCharField(max_length=255)


class DenialReasonIdField(StrictIntegerField):
    """The id of an active denial reason; operators pick it from a list."""

    @staticmethod
    def form_choices():
        return DenialReason.objects.filter(is_active=True)


class RefuseInput(StrictInputSerializer):
    """``{"denial_reason_id": int}``: an active reason from ``GET /api/v1/denial-reasons/``."""

    denial_reason_id = DenialReasonIdField(min_value=1, max_value=PG_BIGINT_MAX)


class ReassignLocationInput(StrictInputSerializer):
    """``{"location": code}``: the new stock location (inside the caller's scope)."""

    location = StrictCharField(max_length=64, source="location_code")

    def validate_location(self, value: str) -> str:
        locations = self.context.get("locations")
        if locations is not None and not locations.filter(code=value).exists():
            raise serializers.ValidationError(f"Unknown stock location {value!r}.")
        return value


# --- stock held by a package ---------------------------------------------------------------

def package_item_lines(package) -> dict[int, int]:
    """``{sku_id: quantity}`` of the package's items (prefetched, else 1 query)."""
    return {item.sku_id: item.quantity for item in package.items.all()}


def _local_lines(package, status: int) -> dict[int, int]:
    """Units a package in ``status`` holds reserved at its own location: all its items,
    except in Pending Transfer, where units of this placement's transfers that have not
    arrived (travelling, or lost with a cancelled transfer) are not there."""
    lines = package_item_lines(package)
    if status != Status.PENDING_TRANSFER:
        return lines
    in_flight, lost = transfer_placement_units(package=package)
    local = {sku_id: qty - in_flight.get(sku_id, 0) - lost.get(sku_id, 0) for sku_id, qty in lines.items()}
    return {sku_id: qty for sku_id, qty in local.items() if qty > 0}


def _release_held_stock(package, status: int) -> None:
    """Undo what a package in ``status`` holds at its location: reservations or picked units."""
    if status in RESERVING_STATES:
        lines = _local_lines(package, status)
        if lines:
            stock.stock_release(location_id=package.location_id, lines=lines)
    elif status in PICKED_STATES:
        stock.stock_return(location_id=package.location_id, lines=package_item_lines(package))


def _cancel_open_transfers(actor: Actor):
    """An ``after`` follow-up: cancel (or ask to cancel) the transfers still bringing units."""
    return lambda package: transfers_cancel_open_for_package(package_id=package.pk, actor=actor)


def _status_before_cancellation_request(package) -> int:
    previous = (
        PackageTransition.objects.filter(package=package, to_status=Status.PENDING_CANCELLATION)
        .exclude(from_status=Status.PENDING_CANCELLATION)
        .order_by("-id").values_list("from_status", flat=True).first()
    )
    if previous is None:
        raise OmsError("No cancellation request in the log", code="log_inconsistent")
    return previous


# --- the actions' bodies -------------------------------------------------------------------

def _with_reason(package, actor, *, reason: str = "") -> Step:
    return Step(reason=reason)


def _stock_ledger(packages) -> stock.StockLedger:
    """The stock rows the items of ``packages`` draw on at their locations (one per item,
    by the unique (location, SKU) index), locked for the batch."""
    level_of_item = StockLevel.objects.filter(
        location_id=OuterRef("package__location_id"), sku_id=OuterRef("sku_id")).values("pk")[:1]
    items = PackageItem.objects.filter(package__in=[package.pk for package in packages])
    return stock.StockLedger(StockLevel.objects.filter(
        pk__in=items.annotate(level=Subquery(level_of_item)).values("level")))


class _ReschedulingLedger:
    """What a batch of reschedules locks at once: the stock rows (``_stock_ledger``), then the
    rows of their locations that have a capacity (``stock.CapacityLedger``)."""

    def __init__(self, packages):
        self.stock = _stock_ledger(packages)
        self.slots = stock.CapacityLedger({package.location_id for package in packages})

    def save(self) -> None:
        self.stock.save()


def _complete_packaging(package, actor, *, ledger: stock.StockLedger) -> Step:
    ledger.pick(package.location_id, package_item_lines(package))
    return Step()


def _parse_reported(package, items: Mapping[str, int] | Sequence[dict], *, field: str = "items",
                    verb: str = "reported") -> dict[int, int]:
    """``{"SKU": qty}`` or ``[{"sku", "quantity"}]`` -> ``{sku_id: qty}``, each at most what
    the package holds. Raises InvalidInput (``field``)."""
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        try:
            pairs = [(entry["sku"], entry["quantity"]) for entry in items]
        except (KeyError, TypeError):
            raise InvalidInput('items must be [{"sku": str, "quantity": int}, …]', field=field) from None
    if not pairs:
        raise InvalidInput(_("Name at least one item and quantity"), params={}, field=field)
    held = {item.sku.code: item for item in package.items.all()}
    result: dict[int, int] = {}
    for code, quantity in pairs:
        if code not in held:
            raise InvalidInput(_("SKU %(sku)s is not in package %(package)s"),
                               params={"sku": code, "package": package.number}, field=field)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise InvalidInput(_("Quantity of SKU %(sku)s must be a whole number >= 1"), params={"sku": code},
                               field=field)
        sku_id = held[code].sku_id
        result[sku_id] = result.get(sku_id, 0) + quantity
        if result[sku_id] > held[code].quantity:
            text = (_("SKU %(sku)s: %(count)s assigned but the package holds %(held)s") if verb == "assigned"
                    else _("SKU %(sku)s: %(count)s reported but the package holds %(held)s"))
            raise InvalidInput(text, params={"sku": code, "count": result[sku_id],
                                             "held": held[code].quantity}, field=field)
    return result


def _replace(remove_units, reason: str):
    """Body of report_missing / report_defective: release the reservations, take the
    reported units off the shelf, cancel, and create a replacement for the same items
    (Pending if the location still has them, else Product Out of Stock), linked both ways."""

    def run(package, actor, *, items) -> Step:
        reported = _parse_reported(package, items)
        stock.stock_release(location_id=package.location_id, lines=package_item_lines(package))
        remove_units(location_id=package.location_id, lines=reported)
        codes = {item.sku_id: item.sku.code for item in package.items.all()}

        def create_replacement(package) -> None:
            package.replacement = package_create(
                order_number=package.order_number, brand=package.brand, location=package.location,
                delivery_type=package.delivery_type, ship_by=package.ship_by, actor=actor,
                replaces=package, allow_transfers=False,
                items=[ItemInput(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                 freight_value=i.freight_value) for i in package.items.all()])

        payload = {"items": [{"sku": codes[s], "quantity": q} for s, q in sorted(reported.items())]}
        return Step(transition={"reason": reason}, reason=reason, payload=payload,
                    after=create_replacement)

    return run


def _items_of(package, lines: Mapping[int, int]) -> list[ItemInput]:
    """``lines`` (``{sku_id: units}``) of ``package`` as new-package lines, with its prices."""
    held = {item.sku_id: item for item in package.items.all()}
    return [ItemInput(sku=held[sku_id].sku, quantity=quantity, unit_price=held[sku_id].unit_price,
                      freight_value=held[sku_id].freight_value)
            for sku_id, quantity in sorted(lines.items(), key=lambda line: held[line[0]].pk)]


def _new_package_entry(new: Package) -> dict:
    """A package split off, as the log payload names it."""
    return {"number": new.number, "location": new.location.code, "status": Status(new.status).slug,
            "items": [{"sku": item.sku.code, "quantity": item.quantity} for item in new.items.all()]}


def _split_off(package, actor, lines: Mapping[int, int], **placement) -> Package:
    """Create the package for ``lines`` of ``package``: same order, brand, delivery and ship-by,
    linked by ``split_from``; placed as ``placement`` says (``package_create``'s arguments)."""
    return package_create(
        order_number=package.order_number, brand=package.brand, delivery_type=package.delivery_type,
        delivery_region=package.delivery_region, ship_by=package.ship_by, actor=actor,
        split_from=package, items=_items_of(package, lines), **placement)


def _parse_parts(package, parts) -> list[tuple[StockLocation, dict[int, int]]]:
    """``[{"location": code, "items": [{"sku", "quantity"}]}]`` -> ``[(location, {sku_id:
    units})]`` in location id order: one part per location, each an active packaging
    location, every unit of the package in exactly one part, not all of them at its own
    location. Raises InvalidInput (field ``parts``)."""
    if not isinstance(parts, Sequence) or isinstance(parts, str) or not parts:
        raise InvalidInput(_("Name at least one part: a location and its items"), params={}, field="parts")
    by_code: dict[str, dict[int, int]] = {}
    for part in parts:
        try:
            code, items = part["location"], part["items"]
        except (KeyError, TypeError):
            raise InvalidInput('parts must be [{"location": str, "items": [{"sku": str, '
                               '"quantity": int}, …]}, …]', field="parts") from None
        if code in by_code:
            raise InvalidInput(_("Location %(location)s is named in two parts: put its items in one"),
                               params={"location": code}, field="parts")
        by_code[code] = _parse_reported(package, items, field="parts", verb="assigned")
    for item in package.items.all():
        assigned = sum(lines.get(item.sku_id, 0) for lines in by_code.values())
        if assigned != item.quantity:
            raise InvalidInput(_("SKU %(sku)s: %(assigned)s of %(quantity)s units assigned; assign every "
                                 "unit exactly once"), params={
                "sku": item.sku.code, "assigned": assigned, "quantity": item.quantity}, field="parts")
    if list(by_code) == [package.location.code]:
        raise InvalidInput(_("Every unit stays at %(location)s: nothing to split"),
                           params={"location": package.location.code}, field="parts")
    locations = {location.code: location for location in StockLocation.objects.filter(code__in=list(by_code))}
    for code in by_code:
        location = locations.get(code)
        if location is None or not (location.is_active and location.can_package):
            raise InvalidInput(_("Location %(location)s does not exist or cannot package"),
                               params={"location": code}, field="parts")
    return sorted(((locations[code], lines) for code, lines in by_code.items()),
                  key=lambda part: part[0].pk)


def _must_start_pending(location: StockLocation, lines: Mapping[int, int], *, closing: int) -> None:
    """Refuse a part that could not start Pending at ``location``: InsufficientStock (409,
    ``shortages``) or LocationFull (409). Keeps the stock rows and the location row locked,
    so the part's package does start Pending."""
    shortages = stock.stock_shortages(location_id=location.pk, lines=lines, lock=True)
    if shortages:
        raise InsufficientStock(
            f"{location.code} lacks units of its part and every part must start Pending: "
            + "; ".join(str(shortage) for shortage in shortages),
            location=location.code, shortages=[shortage.as_dict() for shortage in shortages])
    stock.location_slot_take(location_id=location.pk, closing=closing)


def _split(package, actor, *, parts, require_pending: bool = False) -> Step:
    """Cancel the package and create one per part, at the part's location (``package_create``
    with the location given: Pending where it has every unit and room, else Pending Transfer
    or Product Out of Stock there), each linked by ``split_from``. The stock rows of every
    location involved are locked first, in primary-key order; the package's own reservations
    are released before the parts reserve."""
    assigned = _parse_parts(package, parts)
    closing = package.location_id if package.status in CAPACITY_STATES else None
    stock.stock_levels_locked(pairs={(package.location_id, sku_id) for sku_id in package_item_lines(package)}
                              | {(location.pk, sku_id) for location, lines in assigned for sku_id in lines})
    _release_held_stock(package, package.status)
    created = []
    for location, lines in assigned:
        if require_pending:
            _must_start_pending(location, lines, closing=int(location.pk == closing))
        created.append(_split_off(package, actor, lines, location=location,
                                  closing_location_id=closing))
    package.split_packages = created
    return Step(transition={"reason": "split"}, reason="split",
                payload={"packages": [_new_package_entry(new) for new in created]})


def _keep_found_items(package, missing: Mapping[int, int]) -> None:
    """Take the ``missing`` units (``{sku_id: units}``) off the package's items (an item left
    with none is deleted) and read its items anew (1 query each)."""
    items = [item for item in package.items.all() if item.sku_id in missing]
    for item in items:
        item.quantity -= missing[item.sku_id]
    PackageItem.objects.filter(pk__in=[item.pk for item in items if item.quantity == 0]).delete()
    PackageItem.objects.bulk_update([item for item in items if item.quantity > 0], ["quantity"])
    package._prefetched_objects_cache.pop("items", None)
    prefetch_related_objects([package], Prefetch(
        "items", queryset=PackageItem.objects.select_related("sku").order_by("id")))


def _report_missing_items(package, actor, *, items) -> Step:
    """Write the missing units off, keep the found ones in the package (state unchanged), and
    plan a new package for the missing units by the brand's rules away from this location
    (at this location only when no other can take it)."""
    missing = _parse_reported(package, items)
    if missing == package_item_lines(package):
        raise InvalidInput(_("Every unit of the package is reported missing: use report_missing "
                             "(Product Not Found), which cancels and replaces it"), params={}, field="items")
    stock.stock_release(location_id=package.location_id, lines=missing)
    stock.stock_write_off(location_id=package.location_id, lines=missing)
    codes = {item.sku_id: item.sku.code for item in package.items.all()}
    try:
        new = _split_off(package, actor, missing, exclude_location_ids=[package.location_id])
    except NoLocation:
        new = _split_off(package, actor, missing, location=package.location)
    _keep_found_items(package, missing)
    package.split_packages = [new]
    return Step(reason="product_not_found", payload={
        "items": [{"sku": codes[sku_id], "quantity": quantity} for sku_id, quantity in sorted(
            missing.items(), key=lambda line: codes[line[0]])],
        "packages": [_new_package_entry(new)]})


def _checked_shipment(carrier: str, tracking_number: str) -> tuple[str, str]:
    """The trimmed carrier and tracking number. Raises InvalidInput (field named)."""
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    if not carrier:
        raise InvalidInput(_("carrier is required"), params={}, field="carrier")
    if not tracking_number:
        raise InvalidInput(_("tracking_number is required"), params={}, field="tracking_number")
    if not TRACKING_NUMBER_RE.fullmatch(tracking_number):
        raise InvalidInput(_("tracking_number must be printable ASCII without spaces (it is printed "
                             "as a barcode)"), params={}, field="tracking_number")
    return carrier, tracking_number


def _ship(package, actor, *, carrier: str, tracking_number: str) -> Step:
    carrier, tracking_number = _checked_shipment(carrier, tracking_number)
    return Step(transition={"carrier": carrier, "tracking_number": tracking_number,
                            "label_required": package.brand.requires_shipping_label,
                            "invoice_required": package.brand.requires_invoice},
                payload={"carrier": carrier, "tracking_number": tracking_number})


def _confirm_label_printed(package, actor) -> Step:
    return Step(transition={"invoice_required": package.brand.requires_invoice})


def _attach_invoice(package, actor, *, invoice_number: str, invoice_date: dt.date,
                    invoice_url: str = "") -> Step:
    invoice_number = (invoice_number or "").strip()
    if not invoice_number:
        raise InvalidInput(_("invoice_number is required"), params={}, field="invoice_number")
    return Step(transition={"invoice_number": invoice_number, "invoice_date": invoice_date,
                            "invoice_url": invoice_url or ""},
                payload={"invoice_number": invoice_number,
                         "invoice_date": invoice_date.isoformat() if invoice_date else None})


def _update_shipment(package, actor, *, carrier: str, tracking_number: str) -> Step:
    carrier, tracking_number = _checked_shipment(carrier, tracking_number)
    return Step(transition={"carrier": carrier, "tracking_number": tracking_number},
                payload={"carrier": carrier, "tracking_number": tracking_number,
                         "previous": {"carrier": package.carrier,
                                      "tracking_number": package.tracking_number}})


def _update_invoice(package, actor, *, invoice_number: str, invoice_date: dt.date,
                    invoice_url: str = "") -> Step:
    step = _attach_invoice(package, actor, invoice_number=invoice_number, invoice_date=invoice_date,
                           invoice_url=invoice_url)
    step.payload["previous"] = {
        "invoice_number": package.invoice_number,
        "invoice_date": package.invoice_date.isoformat() if package.invoice_date else None}
    return step


def _block(package, actor, *, reason: str) -> Step:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("reason is required"), params={}, field="reason")
    return Step(transition={"reason": reason, "blocked_by": str(actor)[:150]}, reason=reason)


def _transfers_follow_up(package, status: int, why: str) -> tuple[str, dict] | None:
    """The system action (``Step.then``) due for a package going on in ``status`` after a
    pause in which its transfers' events were not acted on (a cancellation request, a
    hold): in Pending Transfer, transfer_lost if one was cancelled, transfers_arrived if
    all arrived; else None."""
    if status != Status.PENDING_TRANSFER:
        return None
    in_flight, lost = transfer_placement_units(package=package)
    if lost:
        return ("transfer_lost", {"reason": f"a transfer was cancelled {why}"})
    if not in_flight:
        return ("transfers_arrived", {})
    return None


def _unblock(package, actor, *, reason: str = "") -> Step:
    return Step(reason=reason, payload={"block_reason": package.block_reason,
                                        "blocked_by": package.blocked_by},
                then=_transfers_follow_up(package, package.status, "while the package was blocked"))


def _mark_delivery_failed(package, actor, *, reason: str) -> Step:
    if not (reason or "").strip():
        raise InvalidInput(_("reason is required"), params={}, field="reason")
    return Step(reason=reason.strip())


def _reschedule(package, actor, *, ledger: _ReschedulingLedger) -> Step:
    ledger.slots.check(package.location_id)
    ledger.stock.reserve(package.location_id, package_item_lines(package),
                         codes={item.sku_id: item.sku.code for item in package.items.all()})
    ledger.slots.take(package.location_id)
    return Step()


def _refuse(package, actor, *, denial_reason_id: int) -> Step:
    reason = DenialReason.objects.filter(pk=denial_reason_id, is_active=True).first()
    if reason is None:
        raise InvalidInput(_("No active denial reason %(id)s"), params={"id": denial_reason_id},
                           field="denial_reason")
    _release_held_stock(package, package.status)
    return Step(transition={"denial_reason": reason}, reason=reason.title)


def _reassign_location(package, actor, *, location_code: str) -> Step:
    location = StockLocation.objects.filter(code=location_code).first()
    if location is None or not (location.is_active and location.can_package):
        raise InvalidInput(_("Location %(location)s does not exist or cannot package"),
                           params={"location": location_code}, field="location")
    if location.pk == package.location_id:
        raise InvalidInput(_("The package is already at %(location)s; choose another location"),
                           params={"location": location_code}, field="location")
    from_location = package.location.code
    package.placed_at = timezone.now()
    placement = package_place(package, package_item_lines(package), actor, locations=[location])
    package.planning = placement.record
    if placement.status == Status.PRODUCT_OUT_OF_STOCK:
        out_of_stock_fields(package, placement.reason)
    return Step(transition={"location": location, "target": placement.status}, reason=placement.reason,
                payload={"from_location": from_location, "to_location": location.code})


def _cancel(package, actor, *, reason: str = "") -> Step:
    _release_held_stock(package, package.status)
    return Step(transition={"reason": reason}, reason=reason)


def _request_cancellation(package, actor, *, reason: str = "") -> Step:
    return Step(transition={"reason": reason}, reason=reason)


def _confirm_cancellation(package, actor, *, reason: str = "") -> Step:
    before_request = _status_before_cancellation_request(package)
    _release_held_stock(package, before_request)
    return Step(reason=reason, after=_cancel_open_transfers(actor)
                if before_request == Status.PENDING_TRANSFER else None)


def _reject_cancellation(package, actor, *, reason: str = "") -> Step:
    previous = _status_before_cancellation_request(package)
    return Step(transition={"previous_status": previous}, reason=reason,
                then=_transfers_follow_up(package, previous, "meanwhile"))


def _transfers_arrived(package, actor, *, reason: str = "") -> Step:
    in_flight, lost = transfer_placement_units(package=package)
    if in_flight or lost:
        raise ActionNotAllowed("Transfers of this package are still open or were cancelled",
                               code="transfers_not_arrived")
    return Step(reason=reason)


def _transfer_lost(package, actor, *, reason: str = "") -> Step:
    if not transfer_placement_units(package=package)[1]:
        raise ActionNotAllowed("No transfer of this package was cancelled", code="no_transfer_lost")
    _release_held_stock(package, package.status)
    return Step(reason=reason, after=_cancel_open_transfers(actor))


# Texts of the operator forms derived from the inputs above: labels made from the field names
# and help texts. The API schema shows them in English; oms.actions.forms translates them.
FORM_TEXTS = (
    gettext_noop("Carrier"), gettext_noop("Tracking number"), gettext_noop("Printable ASCII without spaces."),
    gettext_noop("Reason"), gettext_noop("Location"), gettext_noop("Denial reason id"),
    gettext_noop("Invoice number"), gettext_noop("Invoice date"), gettext_noop("Invoice document URL"),
    gettext_noop("Only if every part can start Pending"),
    gettext_noop("Refuse the whole split when a location lacks units of its part or is full."),
)

ACTIONS: dict[str, Action] = actions_by_name(
    Action("start_preparing", _("Start Preparing"), "OA",
           description="Start picking. No stock effect."),
    Action("complete_packaging", _("Packaging Completed"), "OA", run=_complete_packaging,
           ledger=_stock_ledger,
           stock="the reserved units are picked: they leave on_hand and reserved", primary=True,
           description="Finish packing."),
    Action("report_missing", _("Product Not Found"), "OA", input=ReportItemsInput,
           bulk=False,
           run=_replace(stock.stock_write_off, "product_not_found"), writes=("cancellation_reason",),
           stock="reservations released; the missing units written off on_hand; a replacement "
                 "package reserves anew",
           description="Some units are not on the shelf: the package is canceled and a "
                       "replacement created for the same items (Pending if the location still "
                       "has them, else Product Out of Stock), linked both ways."),
    Action("report_defective", _("Defective Product"), "OA", input=ReportItemsInput,
           bulk=False,
           run=_replace(stock.stock_mark_damaged, "defective_product"), writes=("cancellation_reason",),
           stock="reservations released; the defective units move from on_hand to damaged; "
                 "a replacement package reserves anew",
           description="As Product Not Found, ending in Defective Product Found."),
    Action("report_missing_items", _("Product Not Found — Advanced"), "OA", input=ReportItemsInput,
           bulk=False,
           run=_report_missing_items, event=PACKAGE_MISSING_ITEMS_REPORTED,
           stock="the missing units' reservations released and the units written off on_hand; the "
                 "new package reserves where it is planned",
           description="Only the missing units leave: they are written off, the package keeps its "
                       "found items (quantities reduced) and goes on in its state, and a new package "
                       "for the missing units is planned by the brand's rules away from this "
                       "location (Pending elsewhere, Pending Transfer, or Product Out of Stock), "
                       "linked to it (`split_from`). Reporting every unit is refused: that is "
                       "Product Not Found."),
    Action("ship", _("Ship"), "OA", input=ShipInput, run=_ship, primary=True,
           bulk=False,
           writes=("carrier", "tracking_number", "shipped_at"),
           description="Hand over to the carrier; stops at the first of the brand's gates "
                       "still open (a printed label, then an invoice), else Shipped."),
    Action("confirm_label_printed", _("Confirm Label Printed"), "OA", run=_confirm_label_printed,
           primary=True, writes=("label_printed_at", "shipped_at"),
           description="The label is printed and stuck on."),
    Action("attach_invoice", _("Attach Invoice"), "TAS", input=AttachInvoiceInput, run=_attach_invoice,
           writes=("invoice_number", "invoice_date", "invoice_url", "shipped_at"),
           description="Ships a package waiting for its invoice; a data update before that. The "
                       "brand's invoice integration sends it; an operator attaches it by hand when "
                       "the integration does not."),
    Action("mark_ready_for_pickup", _("Ready for Pickup"), "OA", input=ReasonInput, run=_with_reason,
           primary=True, form=False, description="Ready for the customer to collect."),
    Action("hand_over", _("Hand Over"), "OA", input=ReasonInput, run=_with_reason, primary=True,
           form=False, writes=("delivered_at",), description="The customer collected it."),
    Action("record_delivery_attempt", _("Record Delivery Attempt"), "AS", input=ReasonInput,
           run=_with_reason, writes=("delivery_attempts",), form=False,
           description="Carrier event: delivery attempted (counted)."),
    Action("mark_delivered", _("Mark Delivered"), "AS", input=ReasonInput, run=_with_reason,
           writes=("delivered_at",), form=False, description="Carrier event: delivered."),
    Action("mark_delivery_failed", _("Mark Delivery Failed"), "AS", input=DeliveryFailedInput,
           run=_mark_delivery_failed, description="Carrier event: delivery failed, with a reason."),
    Action("reschedule", _("Reschedule"), "OAS", run=_reschedule, ledger=_ReschedulingLedger, primary=True,
           stock="reserves every item (refused with the shortages when the location lacks some, "
                 "or when it is full)",
           description="Back to work once stock returned and the location has room."),
    Action("refuse", _("Refuse"), "OA", input=RefuseInput, run=_refuse, writes=("denial_reason",),
           stock="reservations released", description="The location declines the package."),
    Action("reassign_location", _("Reassign Location"), "OAS", input=ReassignLocationInput,
           run=_reassign_location, primary=True,
           writes=("location", "placed_at", "stock_checked_at", "next_stock_check_at", "stock_shortage",
                   "planning"),
           stock="placed anew at the new location: reserved there, or transfers planned",
           description="Re-plan to another location: Pending where it has every item and room, "
                       "Pending Transfer where transfers can bring the rest, else Product Out of "
                       "Stock."),
    Action("split", _("Split Package"), "OA", input=SplitInput, run=_split, writes=("cancellation_reason",),
           admin=False,
           stock="reservations released; each new package reserves at its location (or waits "
                 "there for transfers or stock)",
           description="Manual planning: every unit of the package is assigned to a stock "
                       "location, one part per location. The package is canceled with reason "
                       "`split` and one new package per part is created at its location, linked "
                       "to it (`split_from`): Pending where the location has every unit of the "
                       "part and room, else Pending Transfer or Product Out of Stock there, as "
                       "planning decides. With `require_pending` a part that cannot start Pending "
                       "refuses the whole split (409 `insufficient_stock` or `location_full`). "
                       "Not an admin action: each package needs its own assignment."),
    Action("cancel", _("Cancel"), "OA", input=ReasonInput, run=_cancel, form=True,
           writes=("cancellation_reason",), stock="reservations released",
           description="Cancel before any physical work."),
    Action("request_cancellation", _("Request Cancellation"), "OA", input=ReasonInput,
           run=_request_cancellation, form=True, writes=("cancellation_reason",),
           description="Ask to cancel work in progress. No stock effect."),
    Action("confirm_cancellation", _("Confirm Cancellation"), "OA", input=ReasonInput,
           run=_confirm_cancellation, primary=True, form=False,
           stock="by the state before the request: reservations released or picked units "
                 "returned; open transfers cancelled",
           description="Cancel after work started."),
    Action("reject_cancellation", _("Reject Cancellation"), "OA", input=ReasonInput,
           run=_reject_cancellation, form=False, writes=("cancellation_reason",),
           description="Too late to cancel: back to the state before the request."),
    Action("transfers_arrived", _("Transfers Arrived"), "S", input=ReasonInput, run=_transfers_arrived,
           switchable=False, description="Every transfer of the package is Transferred."),
    Action("transfer_lost", _("Transfer Lost"), "S", input=ReasonInput, run=_transfer_lost,
           switchable=False, stock="reservations released; other open transfers cancelled",
           description="A transfer of the package was Cancelled."),
    Action("block", _("Block"), "OA", input=BlockInput, run=_block,
           writes=("blocked_at", "block_reason", "blocked_by"), event=PACKAGE_BLOCKED,
           description="Put the package on hold, with a reason. Its state and reservations stay; "
                       "every other action is refused (409 `blocked`) and the automatic re-check "
                       "passes it over until it is unblocked."),
    Action("unblock", _("Unblock"), "OA", input=ReasonInput, run=_unblock, primary=True, form=False,
           writes=("blocked_at", "block_reason", "blocked_by", "next_stock_check_at"),
           releases_hold=True, switchable=False, event=PACKAGE_UNBLOCKED,
           description="Release the hold: the package goes on from the state it was blocked in "
                       "(a Product Out of Stock package is due for the re-check at once; transfers "
                       "that arrived or were cancelled meanwhile are acted on). Cannot be switched "
                       "off per brand, so a blocked package can always be released."),
    Action("update_shipment", _("Update Shipment"), "OA", input=ShipInput, run=_update_shipment,
           bulk=False,
           writes=("carrier", "tracking_number"), event=PACKAGE_SHIPMENT_UPDATED,
           description="Correct the carrier and tracking number of a package with the carrier; "
                       "the shipping ticket shows the new ones. The state does not change."),
    Action("update_invoice", _("Update Invoice"), "OA", input=AttachInvoiceInput, run=_update_invoice,
           bulk=False,
           writes=("invoice_number", "invoice_date", "invoice_url"), event=PACKAGE_INVOICE_UPDATED,
           description="Replace the invoice (number, date, document URL) once packaging is "
                       "completed, also after handover. The state does not change; in Pending "
                       "Invoice, attach_invoice attaches it and ships."),
)

# The fixed reasons steps log (and write to ``cancellation_reason``) as slugs, by the action's
# label; any other reason is an operator's or the planner's own text.
REASON_LABELS: dict[str, str] = {
    "product_not_found": ACTIONS["report_missing"].label,
    "defective_product": ACTIONS["report_defective"].label,
    "split": ACTIONS["split"].label,
}


def reason_label(reason: str) -> str:
    """The operator-facing text of a logged reason: the label of a slug, else the reason."""
    return REASON_LABELS.get(reason, reason)


# --- what a waiting package waits for -------------------------------------------------------

@dataclass(frozen=True)
class Wait:
    """What a package waits for in a state where the next move is someone else's
    (``docs/state-machine.md``, "What a package waits for"; the tests compare the two).

    ``who``: whose move it is; ``what``: what the package waits for; ``then``: what happens
    once it comes and what the location can do meanwhile (whole sentences, ready for
    translation). ``acts``: the actions that answer the wait, offered beside it when the
    package allows them (the page's main button aside); ``form``: one of them whose form is
    shown in place; ``then_others``: ``then`` for a reader whose role may not run ``form``
    (its declaration's who), who is shown no form.
    """

    who: str
    what: str
    then: str
    acts: tuple[str, ...] = ()
    form: str | None = None
    then_others: str | None = None


WAITS: dict[int, Wait] = {
    Status.PENDING_TRANSFER: Wait(
        who=_("Other stock locations (transfers)"),
        what=_("The transfers bringing the missing units to this location."),
        then=_("When every one is Transferred the package moves to Ready to Packaging by itself; "
               "if one is cancelled it goes to To Be Rescheduled.")),
    Status.PENDING_SHIPPING_LABEL: Wait(
        who=_("The carrier integration, then this location"),
        what=_("The carrier's shipping label, printed and stuck on the package."),
        then=_("Print the label the carrier issued and confirm it with Confirm Label Printed (the "
               "integration may confirm it too). The ship goes on: to Pending Invoice if the brand "
               "needs an invoice, else to Shipped."),
        acts=("confirm_label_printed",)),
    Status.PENDING_INVOICE: Wait(
        who=_("The brand's invoice integration (integrator)"),
        what=_("The invoice of the package: number, date and document."),
        then=_("The package ships as soon as the invoice is attached. If the integration does not "
               "send it, attach it here."),
        acts=("attach_invoice",), form="attach_invoice",
        then_others=_("The package ships as soon as the invoice is attached. A staff operator can "
                      "attach it here if the integration does not send it.")),
    Status.READY_FOR_PICKUP: Wait(
        who=_("The customer"),
        what=_("The customer collecting the package at this location."),
        then=_("Hand it over and confirm with Hand Over: the package is Delivered."),
        acts=("hand_over",)),
    Status.SHIPPED: Wait(
        who=_("The carrier"),
        what=_("Delivery to the customer."),
        then=_("The carrier's events come through the integration: Delivered, Delivery Attempted "
               "or Delivery Failed. Correct a wrong carrier or tracking number with Update Shipment."),
        acts=("update_shipment",)),
    Status.DELIVERY_ATTEMPTED: Wait(
        who=_("The carrier and the customer"),
        what=_("The carrier's next delivery attempt, with the customer there to receive it."),
        then=_("The carrier reports the outcome through the integration: another attempt, "
               "Delivered or Delivery Failed."),
        acts=("update_shipment",)),
    Status.DELIVERY_FAILED: Wait(
        who=_("The carrier"),
        what=_("The carrier's follow-up: a delivery after all, reported through the integration."),
        then=_("Only the carrier integration can still report it Delivered; follow it up with the "
               "carrier."),
        acts=("update_shipment",)),
    Status.PENDING_CANCELLATION: Wait(
        who=_("This location's operator (or the integrator)"),
        what=_("A decision on the cancellation request."),
        then=_("Confirm Cancellation while the package can still be stopped: it is canceled and "
               "its units go back to stock. Reject Cancellation when it is too late: it goes back "
               "to the state it was in."),
        acts=("confirm_cancellation", "reject_cancellation")),
    Status.PRODUCT_OUT_OF_STOCK: Wait(
        who=_("Stock at this location (the automatic re-check)"),
        what=_("Stock for every item at this location, and room for one more open package."),
        then=_("The re-check runs Reschedule by itself once stock is back. Reschedule by hand after "
               "a stock count, or move the package with Reassign Location or Split Package."),
        acts=("reschedule", "reassign_location", "split")),
    Status.TO_BE_RESCHEDULED: Wait(
        who=_("Planning: an operator or the integrator"),
        what=_("A new stock location for the package."),
        then=_("Reassign Location re-plans it at another location, Split Package spreads it over "
               "several, Cancel ends it."),
        acts=("reassign_location", "split", "cancel")),
}
