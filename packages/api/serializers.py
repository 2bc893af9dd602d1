"""Package API serializers: input (one class per action, strict) and output.

Output shapes are documented on each class; every status is ``{"code", "slug", "label"}``.
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from locations.models import Sku, StockLocation
from oms.actions.inputs import StrictInputSerializer
from oms.api.schema import (
    AwareDateTimeField,
    StrictCharField,
    StrictIntegerField,
    UtcDateTimeField,
    conflict_error_serializer,
)
from packages.actions import ACTIONS, MAX_ITEMS, ItemInputSerializer
from packages.bulk import BULK_MAX
from packages.creation import ORDER_NUMBER_RE, ItemInput
from packages.engine import package_allowed_actions
from packages.events import PACKAGE_LOG_ACTIONS, PackageStatusSerializer
from packages.models import Brand, Package, PlanningRule, status_dict
from packages.planning import planning_explanation
from packages.selectors import package_split_into, package_waiting_reason
from transfers.models import Status as TransferStatus

PLANNING_VERDICTS = ["chosen", "no_stock", "full", "excluded", "wrong_kind", "ranked_lower"]
# The actions an API token may run (each has its endpoint).
PACKAGE_API_ACTIONS = [name for name, action in ACTIONS.items() if action.may_run("api")]


def api_action_field(**kwargs) -> serializers.ChoiceField:
    """An action an API token may run (``PackageActionEnum``)."""
    return serializers.ChoiceField(choices=PACKAGE_API_ACTIONS, **kwargs)


def any_action_field(**kwargs) -> serializers.ChoiceField:
    """Any declared package action, the system's included (``PackageAnyActionEnum``)."""
    return serializers.ChoiceField(choices=list(ACTIONS), **kwargs)


# --- output ------------------------------------------------------------------------------

@extend_schema_field(PackageStatusSerializer)
class PackageStatusField(serializers.Field):
    """A status code rendered as ``{"code", "slug", "label"}`` (read-only)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return status_dict(value)


class PackageItemOutputSerializer(serializers.Serializer):
    """One line: ``{"sku": code, "quantity": units, "unit_price": "12.50"|null, "freight_value": …}``."""

    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    freight_value = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class DenialReasonOutputSerializer(serializers.Serializer):
    """``{"id": int, "title": str, "priority": int}``: a reason a location may refuse with."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    priority = serializers.IntegerField()


class UnitsSerializer(serializers.Serializer):
    """``{"sku": code, "quantity": units}``."""

    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class PackageLogPayloadSerializer(serializers.Serializer):
    """What an action recorded besides its reason, by action: ``ship`` the carrier and
    tracking number, ``attach_invoice`` the invoice, ``reassign_location`` both locations,
    ``report_missing``/``report_defective`` the items reported, ``create`` of a replacement
    the package it replaces; ``{}`` for the others."""

    carrier = serializers.CharField(required=False)
    tracking_number = serializers.CharField(required=False)
    invoice_number = serializers.CharField(required=False)
    invoice_date = serializers.DateField(required=False, allow_null=True)
    from_location = serializers.CharField(required=False)
    to_location = serializers.CharField(required=False)
    items = UnitsSerializer(many=True, required=False)
    replaces = serializers.CharField(required=False)


@extend_schema_field(PackageLogPayloadSerializer)
class PackageLogPayloadField(serializers.JSONField):
    """A log row's payload as stored (its shape: ``PackageLogPayloadSerializer``)."""


class PackageTransitionOutputSerializer(serializers.Serializer):
    """One row of the transition log (``from_status`` is null for ``create``)."""

    action = serializers.ChoiceField(choices=PACKAGE_LOG_ACTIONS, help_text="The action, or `create`.")
    from_status = PackageStatusField(allow_null=True)
    to_status = PackageStatusField()
    actor = serializers.CharField()
    reason = serializers.CharField()
    payload = PackageLogPayloadField()
    created_at = UtcDateTimeField()


class PackageHoldSerializer(serializers.Serializer):
    """The hold of a blocked package: ``{"reason": str, "blocked_at": time, "blocked_by": actor}``."""

    reason = serializers.CharField(source="block_reason")
    blocked_at = UtcDateTimeField()
    blocked_by = serializers.CharField()


class PackageOutputSerializer(serializers.Serializer):
    """A package as listed: fields, ``items`` and the ``allowed_actions`` for this client.

    Needs ``brand``/``location`` selected and ``items__sku`` prefetched (no extra queries).
    ``version`` grows by one with every action; send it back in ``If-Match``. ``blocked``
    is the package's hold (null when it is not blocked). ``replaces`` / ``split_from``: the
    package this one replaces (Product Not Found, Defective Product) or was split off
    (``split``, ``report_missing_items``), by number.
    """

    number = serializers.CharField()
    order_number = serializers.CharField()
    brand = serializers.CharField(source="brand.slug")
    location = serializers.CharField(source="location.code")
    delivery_type = serializers.ChoiceField(choices=Package.DeliveryType.choices)
    status = PackageStatusField()
    version = serializers.IntegerField()
    status_changed_at = UtcDateTimeField()
    ship_by = UtcDateTimeField(allow_null=True)
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    label_printed_at = UtcDateTimeField(allow_null=True)
    invoice_number = serializers.CharField()
    invoice_date = serializers.DateField(allow_null=True)
    invoice_url = serializers.CharField()
    shipped_at = UtcDateTimeField(allow_null=True)
    delivered_at = UtcDateTimeField(allow_null=True)
    delivery_attempts = serializers.IntegerField()
    cancellation_reason = serializers.CharField()
    replaces = serializers.CharField(source="replaces.number", allow_null=True)
    split_from = serializers.CharField(source="split_from.number", allow_null=True)
    blocked = serializers.SerializerMethodField()
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    items = PackageItemOutputSerializer(many=True)
    allowed_actions = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=api_action_field()))
    def get_allowed_actions(self, package) -> list[str]:
        return package_allowed_actions(package, actor_kind="api")

    @extend_schema_field(PackageHoldSerializer(allow_null=True))
    def get_blocked(self, package) -> dict | None:
        return _HOLD.to_representation(package) if package.blocked_at is not None else None


_HOLD = PackageHoldSerializer()


class PlanningCandidateSerializer(serializers.Serializer):
    """One location a rule weighed: ``verdict`` ``chosen``, or why it was passed over
    (``no_stock``, ``full``, ``excluded``, ``wrong_kind``, ``ranked_lower``), with details."""

    location = serializers.CharField(help_text="Stock location code.")
    verdict = serializers.ChoiceField(choices=PLANNING_VERDICTS)
    detail = serializers.CharField()


class PlanningRuleRefSerializer(serializers.Serializer):
    """A planning rule: its id (null for the built-in default, or a location given by the
    caller) and name."""

    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()


class PlanningRuleTriedSerializer(PlanningRuleRefSerializer):
    """One rule as planning tried it: ``outcome`` ``placed``, ``placed_nothing`` or
    ``not_applicable``; ``candidates`` (at most 10 listed, the chosen one first among those
    ranked) and ``passed_over`` (every location counted by verdict)."""

    outcome = serializers.ChoiceField(choices=["placed", "placed_nothing", "not_applicable"])
    note = serializers.CharField(allow_blank=True)
    candidates = PlanningCandidateSerializer(many=True)
    passed_over = serializers.DictField(child=serializers.IntegerField(min_value=1))


class PlanningRecordSerializer(serializers.Serializer):
    """Why the package is at its location (``packages.planning``): ``mode`` ``rules`` (the
    brand's planning rules chose) or ``location_given`` (its creator, or an operator, named
    the location); ``rule`` that decided (null: none placed it, it waits as Product Out of
    Stock); the ``location`` code; the ``outcome`` state slug; a one-line ``summary``; the
    ``rules`` tried in order."""

    mode = serializers.ChoiceField(choices=["rules", "location_given"])
    rule = PlanningRuleRefSerializer(allow_null=True)
    location = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["pending", "pending_transfer", "product_out_of_stock"])
    summary = serializers.CharField()
    delivery_region = serializers.CharField(allow_blank=True)
    planned_at = serializers.CharField(help_text="ISO 8601 UTC.")
    rules = PlanningRuleTriedSerializer(many=True)


def _waiting_reason(kind: str, doc: str, **fields) -> type[serializers.Serializer]:
    """One variant of ``waiting_reason``, told apart by ``kind`` (component ``<Kind>WaitingReason``)."""
    camel = "".join(part.title() for part in kind.split("_"))
    return type(f"{camel}WaitingReasonSerializer", (serializers.Serializer,), {
        "kind": serializers.ChoiceField(choices=[kind]), **fields, "__doc__": doc,
        "__module__": __name__})


class OpenTransferSerializer(serializers.Serializer):
    """A transfer still bringing units: ``{"number", "status" (slug), "source", "items"}``."""

    number = serializers.CharField()
    status = serializers.ChoiceField(choices=TransferStatus.choices)
    source = serializers.CharField(help_text="The stock location sending the units.")
    items = UnitsSerializer(many=True)


WAITING_REASON_SERIALIZERS = {
    "out_of_stock": _waiting_reason(
        "out_of_stock", "Product Out of Stock: what is short, when stock was last checked and "
                        "when it is checked next (the package is rescheduled by itself then).",
        shortage=serializers.CharField(help_text="e.g. 'short: SKU X needs 2, has 0'."),
        last_checked_at=serializers.DateTimeField(allow_null=True),
        next_check_at=serializers.DateTimeField(allow_null=True)),
    "transfers": _waiting_reason(
        "transfers", "Pending Transfer: the transfers still bringing units.",
        open_transfers=OpenTransferSerializer(many=True)),
    "needs_new_location": _waiting_reason(
        "needs_new_location", "To Be Rescheduled: the location refused it; reassign it.",
        denial_reason=serializers.CharField(allow_null=True, help_text="The refusal's title.")),
    "cancellation_requested": _waiting_reason(
        "cancellation_requested", "Pending Cancellation: the location must confirm or reject.",
        reason=serializers.CharField()),
}


class PackageDetailOutputSerializer(PackageOutputSerializer):
    """A package with its replacement, the packages split off it (``split_into``, numbers,
    oldest first), denial reason, the "waiting because" explanation
    (``packages.selectors.package_waiting_reason``; null when not waiting), its planning
    record (null for a package created before records were kept) and its log."""

    delivery_region = serializers.CharField()
    replacement = serializers.SerializerMethodField()
    split_into = serializers.SerializerMethodField()
    denial_reason = DenialReasonOutputSerializer(allow_null=True)
    waiting_reason = serializers.SerializerMethodField()
    planning = serializers.SerializerMethodField()
    transitions = PackageTransitionOutputSerializer(many=True)

    @extend_schema_field(PlanningRecordSerializer(allow_null=True))
    def get_planning(self, package) -> dict | None:
        return planning_explanation(package.planning)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_replacement(self, package) -> str | None:
        try:
            return package.replacement.number
        except Package.replacement.RelatedObjectDoesNotExist:
            return None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_split_into(self, package) -> list[str]:
        return package_split_into(package)

    @extend_schema_field(PolymorphicProxySerializer(
        component_name="WaitingReason", serializers=WAITING_REASON_SERIALIZERS,
        resource_type_field_name="kind", allow_null=True))
    def get_waiting_reason(self, package) -> dict | None:
        return package_waiting_reason(package)


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class LocationCodesField(serializers.Field):
    """A many-to-many of stock locations rendered as their codes (read-only, prefetched)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return [location.code for location in value.all()]


class PlanningRuleOutputSerializer(serializers.Serializer):
    """One planning rule of a brand (``packages.planning``): tried by ``position``; empty
    ``include_locations`` means every active packaging location."""

    id = serializers.IntegerField()
    position = serializers.IntegerField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    delivery_type = serializers.ChoiceField(choices=Package.DeliveryType.choices, allow_blank=True,
                                            help_text="Blank: any.")
    include_locations = LocationCodesField()
    exclude_locations = LocationCodesField()
    location_kind = serializers.ChoiceField(choices=StockLocation.Kind.choices, allow_blank=True,
                                            help_text="Blank: warehouses and stores.")
    requires_capacity = serializers.BooleanField()
    ranking = serializers.ListField(child=serializers.ChoiceField(choices=PlanningRule.Ranking.values))
    allow_transfers = serializers.BooleanField()


class BrandOutputSerializer(serializers.Serializer):
    """A brand (sales channel) and its settings; ``enabled_actions`` = offered actions;
    ``planning_rules`` in the order they are tried (none: the default rule plans)."""

    slug = serializers.CharField()
    name = serializers.CharField()
    requires_shipping_label = serializers.BooleanField()
    requires_invoice = serializers.BooleanField()
    recheck_interval_minutes = serializers.IntegerField()
    disabled_actions = serializers.ListField(child=any_action_field())
    enabled_actions = serializers.SerializerMethodField()
    fallback_location = serializers.CharField(
        source="fallback_location.code", allow_null=True,
        help_text="Where a package no rule can place waits as Product Out of Stock.")
    planning_rules = PlanningRuleOutputSerializer(many=True)

    @extend_schema_field(serializers.ListField(child=any_action_field()))
    def get_enabled_actions(self, brand) -> list[str]:
        return [name for name in ACTIONS if brand.is_action_enabled(name)]


# --- input -------------------------------------------------------------------------------

@extend_schema_serializer(component_name="PackageCreate")
class PackageCreateInputSerializer(StrictInputSerializer):
    """Body of ``POST /api/v1/packages/``. ``brand`` is a slug, ``location`` (optional) a
    stock location code inside the token's scope; SKUs must exist. ``service_kwargs()`` gives
    ``packages.creation.package_create`` its arguments (without the actor and the scope)."""

    order_number = StrictCharField(
        max_length=64, pattern=ORDER_NUMBER_RE.pattern,
        pattern_message="Use letters, digits, '.', '_', ':' or '-', starting with a letter or digit.",
        help_text="Letters, digits, '.', '_', ':' or '-', starting with a letter or digit.")
    brand = StrictCharField(max_length=50)
    location = StrictCharField(
        max_length=64, required=False,
        help_text="Stock location code. Leave it out to let the brand's planning rules choose "
                  "(among the token's locations).")
    delivery_type = serializers.ChoiceField(choices=Package.DeliveryType.choices)
    delivery_region = StrictCharField(
        max_length=100, required=False, allow_blank=True,
        help_text="Region (state) of the delivery address; rules ranking same_region prefer it.")
    ship_by = AwareDateTimeField(required=False, allow_null=True)
    items = ItemInputSerializer(many=True, min_length=1, max_length=MAX_ITEMS)

    def validate_brand(self, value: str) -> Brand:
        brand = Brand.objects.filter(slug=value).first()
        if brand is None:
            raise serializers.ValidationError(f"Unknown brand {value!r}.")
        return brand

    def validate_location(self, value: str) -> StockLocation:
        location = self.context["locations"].filter(code=value).first()
        if location is None:
            raise serializers.ValidationError(f"Unknown stock location {value!r}.")
        return location

    def validate_items(self, items: list[dict]) -> list[ItemInput]:
        codes = [item["sku"] for item in items]
        skus = {sku.code: sku for sku in Sku.objects.filter(code__in=codes)}
        unknown = sorted(set(codes) - set(skus))
        if unknown:
            raise serializers.ValidationError(f"Unknown SKU(s): {', '.join(unknown)}.")
        if len(set(codes)) != len(codes):
            raise serializers.ValidationError("Each SKU may appear once; add up the quantities.")
        return [ItemInput(sku=skus[item["sku"]], quantity=item["quantity"]) for item in items]

    def service_kwargs(self) -> dict:
        data = self.validated_data
        return {"order_number": data["order_number"], "brand": data["brand"],
                "location": data.get("location"), "delivery_type": data["delivery_type"],
                "delivery_region": data.get("delivery_region", ""),
                "ship_by": data.get("ship_by"), "items": data["items"]}


def _named(action: str) -> type[StrictInputSerializer]:
    """The action's declared input under a per-action name (one OpenAPI component each);
    its ``validated_data`` are the action's keyword arguments."""
    camel = "".join(part.title() for part in action.split("_"))
    base = ACTIONS[action].input
    return type(f"{camel}Serializer", (base,), {"__doc__": base.__doc__, "__module__": __name__})


ACTION_INPUT_SERIALIZERS: dict[str, type[StrictInputSerializer]] = {name: _named(name) for name in ACTIONS}


def _bulk_serializer(action: str, entry_base: type[StrictInputSerializer]) -> type:
    camel = "".join(part.title() for part in action.split("_"))
    entry = type(f"Bulk{camel}EntrySerializer", (entry_base,), {
        "__module__": __name__,
        "__doc__": f"One package of a bulk {action}: its ``number``, optionally the ``version`` it "
                   "must be at, and the action's fields.",
        "number": StrictCharField(max_length=80),
        "version": StrictIntegerField(
            min_value=1, required=False,
            help_text="Act only if the package is still at this version (its `version`, or the "
                      "`ETag` of a single package): else `failed` with code `version_mismatch`."),
    })

    def validate_packages(self, entries):
        seen, duplicates = set(), set()
        for entry in entries:
            (duplicates if entry["number"] in seen else seen).add(entry["number"])
        if duplicates:
            raise serializers.ValidationError(f"Package(s) listed twice: {', '.join(sorted(duplicates))}.")
        return entries

    return type(f"Bulk{camel}Serializer", (StrictInputSerializer,), {
        "__module__": __name__,
        "__doc__": f"Body of a bulk {action}: ``{{\"packages\": [{{\"number\": str, …}}, …]}}`` "
                   f"(1 to {BULK_MAX} packages, each once).",
        "packages": entry(many=True, min_length=1, max_length=BULK_MAX),
        "validate_packages": validate_packages,
    })


ACTION_BULK_INPUT_SERIALIZERS: dict[str, type[StrictInputSerializer]] = {
    name: _bulk_serializer(name, serializer) for name, serializer in ACTION_INPUT_SERIALIZERS.items()
}


# Any action: a follow-up the system runs after the client's action (reject_cancellation's
# transfers_arrived / transfer_lost) reports its own refusal.
PackageConflictErrorSerializer = conflict_error_serializer(
    "PackageConflictErrorSerializer", status=PackageStatusSerializer, action=any_action_field)


class BulkErrorSerializer(PackageConflictErrorSerializer):
    """Why one package of a bulk action was not done: the body a single action would have
    answered with (409, or 400 ``invalid`` naming the ``field``)."""

    field = serializers.CharField(required=False, help_text="The field a domain rule refused.")
    current_version = serializers.IntegerField(
        required=False, help_text="`version_mismatch`: the version the package is at now.")


class BulkResultSerializer(serializers.Serializer):
    """One package of a bulk action. ``result``: ``done`` (``status``/``version`` after the
    action), ``not_allowed`` (``status`` = current status, ``allowed_actions``), ``not_found``
    (unknown or outside the token's scope) or ``failed`` (another domain error in ``error``)."""

    number = serializers.CharField()
    result = serializers.ChoiceField(choices=["done", "not_allowed", "not_found", "failed"])
    status = PackageStatusSerializer(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    allowed_actions = serializers.ListField(child=api_action_field())
    error = BulkErrorSerializer(allow_null=True)


class BulkSummarySerializer(serializers.Serializer):
    """How many packages ended in each result: ``{"done", "not_allowed", "not_found", "failed"}``."""

    done = serializers.IntegerField()
    not_allowed = serializers.IntegerField()
    not_found = serializers.IntegerField()
    failed = serializers.IntegerField()


class BulkOutputSerializer(serializers.Serializer):
    """``{"action": str, "summary": {result: count}, "results": [per package, in request order]}``."""

    action = api_action_field()
    summary = BulkSummarySerializer()
    results = BulkResultSerializer(many=True)
