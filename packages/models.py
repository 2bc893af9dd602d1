"""Brands, packages, their items and transition log, and denial reasons.

The package state machine implements the "Package states" and "Package actions" tables of
``docs/state-machine.md``: one django-fsm-2 transition per action, with exactly
the sources and targets of the table. Transition bodies only assign fields of the package
row; locking, stock, the log row and events live in ``packages.engine`` and
``packages.actions``.
"""

from __future__ import annotations

import django_fsm as fsm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from locations.models import StockLocation
from oms.actions.log import TransitionLog
from oms.actions.row_guard import UpdateFieldsRequired
from oms.timestamps import TimeStampedModel


class Status(models.IntegerChoices):
    """The 17 package states; codes are stable and stored in the database."""

    PENDING = 100, "Pending"
    IN_PROGRESS = 200, "In Progress"
    PENDING_TRANSFER = 300, "Pending Transfer"
    READY_TO_PACKAGING = 400, "Ready to Packaging"
    PACKAGING_COMPLETED = 500, "Packaging Completed"
    PENDING_SHIPPING_LABEL = 550, "Pending Shipping Label for Printing"
    PENDING_INVOICE = 560, "Pending Invoice"
    READY_FOR_PICKUP = 600, "Ready for Pickup"
    SHIPPED = 700, "Shipped"
    DELIVERY_FAILED = 710, "Delivery Failed"
    DELIVERY_ATTEMPTED = 720, "Delivery Attempted"
    DELIVERED = 800, "Delivered"
    PENDING_CANCELLATION = 850, "Pending Cancellation"
    CANCELED = 900, "Canceled"
    DEFECTIVE_PRODUCT_FOUND = 910, "Defective Product Found"
    PRODUCT_OUT_OF_STOCK = 920, "Product Out of Stock"
    TO_BE_RESCHEDULED = 930, "To Be Rescheduled"

    @property
    def slug(self) -> str:
        """The spec's slug, e.g. ``"pending_shipping_label"``."""
        return self.name.lower()

    @classmethod
    def from_slug(cls, slug: str) -> Status:
        """Return the member for ``slug``; raises KeyError for an unknown slug."""
        return cls[slug.upper()]


S = Status

# Stock a package holds at its location, by state (state table, "effect" column):
# reserved units in the open picking states, picked units once packaging is completed.
RESERVING_STATES = frozenset({S.PENDING, S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING})
PICKED_STATES = frozenset(
    {S.PACKAGING_COMPLETED, S.PENDING_SHIPPING_LABEL, S.PENDING_INVOICE, S.READY_FOR_PICKUP}
)
FINAL_STATES = frozenset({S.DELIVERED, S.CANCELED, S.DEFECTIVE_PRODUCT_FOUND})
# Open packages, counted against their location's capacity (StockLocation.open_packages,
# kept by the database: packages.capacity).
CAPACITY_STATES = frozenset(
    {S.PENDING, S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING, S.PENDING_CANCELLATION}
)
# What the location dashboards age: the open packages (by time in their current state) and
# those not handed over yet (by ship-by); package_ageing_idx holds exactly these.
AGEING_STATES = frozenset({
    S.PENDING, S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING, S.PACKAGING_COMPLETED,
    S.PENDING_SHIPPING_LABEL, S.PENDING_INVOICE, S.PENDING_CANCELLATION, S.PRODUCT_OUT_OF_STOCK,
    S.TO_BE_RESCHEDULED,
})
# States in which a package may be blocked (state table, block): every state before the
# carrier has it, the waiting ones and Pending Cancellation; not with the carrier, not final.
HOLDABLE_STATES = frozenset({
    S.PENDING, S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING, S.PACKAGING_COMPLETED,
    S.PENDING_SHIPPING_LABEL, S.PENDING_INVOICE, S.READY_FOR_PICKUP, S.PENDING_CANCELLATION,
    S.PRODUCT_OUT_OF_STOCK, S.TO_BE_RESCHEDULED,
})
# States in which the shipment data may be corrected (state table, update_shipment).
SHIPMENT_UPDATE_STATES = frozenset({S.SHIPPED, S.DELIVERY_FAILED, S.DELIVERY_ATTEMPTED})
# States in which the invoice may be replaced (state table, update_invoice): from Packaging
# Completed on, but Pending Invoice (there attach_invoice attaches it and ships).
INVOICE_UPDATE_STATES = frozenset({
    S.PACKAGING_COMPLETED, S.PENDING_SHIPPING_LABEL, S.READY_FOR_PICKUP, S.SHIPPED,
    S.DELIVERY_FAILED, S.DELIVERY_ATTEMPTED, S.DELIVERED,
})
# States a package may be split from (state table, split): before packaging is completed (but
# Pending Transfer, while transfers bring units to it), and while it waits for stock or a new
# location.
SPLIT_STATES = frozenset({
    S.PENDING, S.IN_PROGRESS, S.READY_TO_PACKAGING, S.PRODUCT_OUT_OF_STOCK, S.TO_BE_RESCHEDULED,
})
# States in which missing units may be reported while the package goes on (report_missing_items).
MISSING_ITEMS_STATES = frozenset({S.PENDING, S.IN_PROGRESS, S.READY_TO_PACKAGING})
DASHBOARD_LABELS = {
    S.PENDING: "Waiting",
    S.IN_PROGRESS: "Preparing",
    S.PENDING_TRANSFER: "Waiting Transfer Operations",
    S.READY_TO_PACKAGING: "Ready to Package",
}


def status_dict(code: int) -> dict:
    """Return ``{"code": 100, "slug": "pending", "label": "Pending"}`` for a status code."""
    status = Status(code)
    return {"code": status.value, "slug": status.slug, "label": status.label}


class Brand(TimeStampedModel):
    """A sales channel with its per-brand settings (state-machine.md, "Per brand").

    ``disabled_actions`` lists action names switched off for the brand: they are neither
    shown nor accepted. ``recheck_interval_minutes`` paces the automatic re-check of Product
    Out of Stock packages.
    """

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    disabled_actions = models.JSONField(default=list, blank=True)
    requires_shipping_label = models.BooleanField(
        default=False,
        help_text="Ship stops in Pending Shipping Label for Printing until the label is printed.",
    )
    requires_invoice = models.BooleanField(
        default=False, help_text="Ship stops in Pending Invoice until an invoice is attached."
    )
    recheck_interval_minutes = models.PositiveIntegerField(default=30)
    fallback_location = models.ForeignKey(
        "locations.StockLocation", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where a package no planning rule can place waits as Product Out of Stock "
                  "(blank: the best-ranked candidate of the first rule that applied).")

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(recheck_interval_minutes__gte=1), name="brand_recheck_interval_gte_1"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.disabled_actions, list) or not all(
                isinstance(name, str) for name in self.disabled_actions):
            raise ValidationError({"disabled_actions": 'Must be a list of action names, e.g. ["refuse"].'})

    def is_action_enabled(self, action: str) -> bool:
        return action not in (self.disabled_actions or [])


class DenialReason(TimeStampedModel):
    """A managed reason a location may give when refusing a package (``refuse``)."""

    title = models.CharField(max_length=255, unique=True)
    priority = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-priority", "title"]

    def __str__(self) -> str:
        return self.title


class Package(UpdateFieldsRequired, fsm.FSMModelMixin, TimeStampedModel):
    """A packaging order: the items of one order that one stock location picks and ships.

    ``status`` is protected: only the transitions below change it, and only the package
    engine (``packages.engine``) calls them. ``version`` grows by one with every action, for
    optimistic checks by clients (``If-Match``).
    """

    Status = Status

    class DeliveryType(models.TextChoices):
        SHIP = "ship", "Ship"
        CLICK_AND_COLLECT = "click_and_collect", "Click and collect"

    # Unique keys and indexes are declared in Meta: a ``unique=True`` / ``db_index=True``
    # CharField also gets a ``varchar_pattern_ops`` twin on PostgreSQL, which serves only
    # ``LIKE 'prefix%'`` (nothing issues one; searches are ``icontains``) and costs every insert.
    number = models.CharField(max_length=80)
    order_number = models.CharField(max_length=64)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="packages")
    location = models.ForeignKey(  # indexed by (location, status) in Meta
        "locations.StockLocation", on_delete=models.PROTECT, related_name="packages",
        db_index=False,
    )
    delivery_type = models.CharField(
        max_length=20, choices=DeliveryType.choices, default=DeliveryType.SHIP
    )
    delivery_region = models.CharField(
        max_length=100, blank=True,
        help_text="Region (state) of the delivery address; planning may prefer locations there.")
    status = fsm.FSMIntegerField(choices=Status.choices, default=Status.PENDING, protected=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)
    ship_by = models.DateTimeField(null=True, blank=True, db_index=True)
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True)
    label_printed_at = models.DateTimeField(null=True, blank=True)
    invoice_number = models.CharField(max_length=64, blank=True)
    invoice_date = models.DateField(null=True, blank=True)
    invoice_url = models.URLField(max_length=500, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    denial_reason = models.ForeignKey(
        DenialReason, null=True, blank=True, on_delete=models.PROTECT, related_name="packages"
    )
    cancellation_reason = models.CharField(max_length=255, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replacement",
        help_text="The canceled package this one replaces (Product Not Found / Defective Product).",
    )
    split_from = models.ForeignKey(  # indexed where set (Meta)
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="split_into",
        db_index=False,
        help_text="The package this one was split off from: the canceled original of a split, or "
                  "the package that kept the found items (missing items reported).")
    placed_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the package was last placed at its location (created or reassigned); "
                  "transfers created since then serve this placement.")
    stock_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="Last stock check while Product Out of Stock.")
    next_stock_check_at = models.DateTimeField(
        null=True, blank=True, help_text="When the automatic re-check looks at this package next.")
    stock_shortage = models.CharField(
        max_length=500, blank=True,
        help_text='What the last check found missing, e.g. "short: SKU X needs 2, has 0".')
    planning = models.JSONField(
        default=dict, blank=True,
        help_text="Why the package is at its location: the planning rule, the location chosen "
                  "and why the others were passed over (packages.planning).")
    # The hold (block / unblock): a blocked package keeps its state and reservations and
    # refuses every action but unblock; the automatic re-check passes it over.
    blocked_at = models.DateTimeField(null=True, blank=True, help_text="Blocked since (null: not blocked).")
    block_reason = models.CharField(max_length=255, blank=True)
    blocked_by = models.CharField(max_length=150, blank=True, help_text="Who blocked it (the actor).")
    # unique in Meta; null (not "") for packages not imported, so they do not collide
    external_ref = models.CharField(  # noqa: DJ001
        max_length=120, null=True, blank=True,
        help_text="Key of the package in the system it was imported from (idempotent imports).",
    )

    # No index: no screen, filter or job reads packages by creation time (lists sort by pk).
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="package_number_uniq"),
            models.UniqueConstraint(fields=["external_ref"], name="package_external_ref_uniq"),
        ]
        indexes = [
            models.Index(fields=["order_number"], name="package_order_number_idx"),
            models.Index(fields=["location", "status"]),
            # the open work of the movements dashboard, per location: the packages in the
            # four DASHBOARD_LABELS states only (a few % of the rows)
            models.Index(fields=["location", "status"], name="package_open_work_idx",
                         condition=Q(status__in=sorted(DASHBOARD_LABELS))),
            models.Index(fields=["status", "status_changed_at"]),
            # the automatic re-check reads only out-of-stock packages, by brand and due time
            models.Index(fields=["brand", "next_stock_check_at", "status_changed_at"],
                         name="package_recheck_due_idx",
                         condition=Q(status=920)),
            # the ageing of the location dashboards: time in state and ship-by of the packages
            # still at their location, per location, without reading the table
            models.Index(fields=["location", "status", "status_changed_at", "ship_by"],
                         name="package_ageing_idx", condition=Q(status__in=sorted(AGEING_STATES))),
            # the blocked packages per location (dashboards, the list's filter): a few rows
            models.Index(fields=["location"], name="package_blocked_idx",
                         condition=Q(blocked_at__isnull=False)),
            # the packages split off a package (its page, the split_from foreign key's checks)
            models.Index(fields=["split_from"], name="package_split_from_idx",
                         condition=Q(split_from__isnull=False)),
            # scan-to-open's exact tracking number look-up: shipped packages only carry one
            models.Index(fields=["tracking_number"], name="package_tracking_number_idx",
                         condition=~Q(tracking_number="")),
        ]

    def __str__(self) -> str:
        return self.number

    # --- guards -----------------------------------------------------------------------
    def is_ship_delivery(self) -> bool:
        return self.delivery_type == self.DeliveryType.SHIP

    def is_click_and_collect(self) -> bool:
        return self.delivery_type == self.DeliveryType.CLICK_AND_COLLECT

    @property
    def is_blocked(self) -> bool:
        return self.blocked_at is not None

    # --- transitions (state-machine.md, "Package actions") -----------------------------
    @fsm.transition(field=status, source=S.PENDING, target=S.IN_PROGRESS)
    def start_preparing(self) -> None:
        pass

    @fsm.transition(
        field=status, source=[S.PENDING, S.IN_PROGRESS, S.READY_TO_PACKAGING],
        target=S.PACKAGING_COMPLETED,
    )
    def complete_packaging(self) -> None:
        pass

    @fsm.transition(
        field=status, source=[S.PENDING, S.IN_PROGRESS, S.READY_TO_PACKAGING], target=S.CANCELED
    )
    def report_missing(self, *, reason: str = "product_not_found") -> None:
        self.cancellation_reason = reason

    @fsm.transition(
        field=status, source=[S.PENDING, S.IN_PROGRESS, S.READY_TO_PACKAGING],
        target=S.DEFECTIVE_PRODUCT_FOUND,
    )
    def report_defective(self, *, reason: str = "defective_product") -> None:
        self.cancellation_reason = reason

    @fsm.transition(field=status, source=sorted(MISSING_ITEMS_STATES), target=None)
    def report_missing_items(self) -> None:
        pass

    @fsm.transition(field=status, source=sorted(SPLIT_STATES), target=S.CANCELED)
    def split(self, *, reason: str = "split") -> None:
        self.cancellation_reason = reason

    @fsm.transition(
        field=status, source=S.PACKAGING_COMPLETED,
        target=fsm.RETURN_VALUE(S.PENDING_SHIPPING_LABEL, S.PENDING_INVOICE, S.SHIPPED),
        conditions=[is_ship_delivery],
    )
    def ship(self, *, carrier: str, tracking_number: str, label_required: bool,
             invoice_required: bool) -> Status:
        self.carrier, self.tracking_number = carrier, tracking_number
        return self._next_ship_gate(label_required=label_required, invoice_required=invoice_required)

    @fsm.transition(
        field=status, source=S.PENDING_SHIPPING_LABEL,
        target=fsm.RETURN_VALUE(S.PENDING_INVOICE, S.SHIPPED),
    )
    def confirm_label_printed(self, *, invoice_required: bool) -> Status:
        self.label_printed_at = timezone.now()
        return self._next_ship_gate(label_required=False, invoice_required=invoice_required)

    @fsm.transition(field=status, source=S.PENDING_INVOICE, target=S.SHIPPED)
    @fsm.transition(
        field=status,
        source=[S.PENDING, S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING,
                S.PACKAGING_COMPLETED, S.PENDING_SHIPPING_LABEL],
        target=None,
    )
    def attach_invoice(self, *, invoice_number: str, invoice_date, invoice_url: str = "") -> None:
        self.invoice_number, self.invoice_date, self.invoice_url = (
            invoice_number, invoice_date, invoice_url,
        )
        if self.status == S.PENDING_INVOICE:
            self.shipped_at = timezone.now()

    @fsm.transition(
        field=status, source=S.PACKAGING_COMPLETED, target=S.READY_FOR_PICKUP,
        conditions=[is_click_and_collect],
    )
    def mark_ready_for_pickup(self) -> None:
        pass

    @fsm.transition(field=status, source=S.READY_FOR_PICKUP, target=S.DELIVERED)
    def hand_over(self) -> None:
        self.delivered_at = timezone.now()

    @fsm.transition(
        field=status, source=[S.SHIPPED, S.DELIVERY_ATTEMPTED], target=S.DELIVERY_ATTEMPTED
    )
    def record_delivery_attempt(self) -> None:
        self.delivery_attempts += 1

    @fsm.transition(
        field=status, source=[S.SHIPPED, S.DELIVERY_FAILED, S.DELIVERY_ATTEMPTED], target=S.DELIVERED
    )
    def mark_delivered(self) -> None:
        self.delivered_at = timezone.now()

    @fsm.transition(
        field=status, source=[S.SHIPPED, S.DELIVERY_ATTEMPTED], target=S.DELIVERY_FAILED
    )
    def mark_delivery_failed(self) -> None:
        pass

    @fsm.transition(field=status, source=S.PRODUCT_OUT_OF_STOCK, target=S.IN_PROGRESS)
    def reschedule(self) -> None:
        pass

    @fsm.transition(field=status, source=[S.PENDING, S.IN_PROGRESS], target=S.TO_BE_RESCHEDULED)
    def refuse(self, *, denial_reason: DenialReason) -> None:
        self.denial_reason = denial_reason

    @fsm.transition(
        field=status, source=[S.PRODUCT_OUT_OF_STOCK, S.TO_BE_RESCHEDULED],
        target=fsm.RETURN_VALUE(S.PENDING, S.PENDING_TRANSFER, S.PRODUCT_OUT_OF_STOCK),
    )
    def reassign_location(self, *, location, target: Status) -> Status:
        self.location = location
        return target

    @fsm.transition(
        field=status, source=[S.PENDING, S.PRODUCT_OUT_OF_STOCK, S.TO_BE_RESCHEDULED],
        target=S.CANCELED,
    )
    def cancel(self, *, reason: str = "") -> None:
        self.cancellation_reason = reason

    @fsm.transition(
        field=status,
        source=[S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING, S.PACKAGING_COMPLETED,
                S.PENDING_SHIPPING_LABEL, S.PENDING_INVOICE, S.READY_FOR_PICKUP],
        target=S.PENDING_CANCELLATION,
    )
    def request_cancellation(self, *, reason: str = "") -> None:
        self.cancellation_reason = reason

    @fsm.transition(field=status, source=S.PENDING_CANCELLATION, target=S.CANCELED)
    def confirm_cancellation(self) -> None:
        pass

    @fsm.transition(
        field=status, source=S.PENDING_CANCELLATION,
        target=fsm.RETURN_VALUE(
            S.IN_PROGRESS, S.PENDING_TRANSFER, S.READY_TO_PACKAGING, S.PACKAGING_COMPLETED,
            S.PENDING_SHIPPING_LABEL, S.PENDING_INVOICE, S.READY_FOR_PICKUP,
        ),
    )
    def reject_cancellation(self, *, previous_status: Status) -> Status:
        self.cancellation_reason = ""
        return previous_status

    @fsm.transition(field=status, source=S.PENDING_TRANSFER, target=S.READY_TO_PACKAGING)
    def transfers_arrived(self) -> None:
        pass

    @fsm.transition(field=status, source=S.PENDING_TRANSFER, target=S.TO_BE_RESCHEDULED)
    def transfer_lost(self) -> None:
        pass

    @fsm.transition(field=status, source=sorted(HOLDABLE_STATES), target=None)
    def block(self, *, reason: str, blocked_by: str) -> None:
        self.blocked_at, self.block_reason, self.blocked_by = timezone.now(), reason, blocked_by

    @fsm.transition(field=status, source=sorted(HOLDABLE_STATES), target=None)
    def unblock(self) -> None:
        self.blocked_at, self.block_reason, self.blocked_by = None, "", ""
        if self.status == S.PRODUCT_OUT_OF_STOCK:  # due for the re-check at once
            self.next_stock_check_at = timezone.now()

    @fsm.transition(field=status, source=sorted(SHIPMENT_UPDATE_STATES), target=None)
    def update_shipment(self, *, carrier: str, tracking_number: str) -> None:
        self.carrier, self.tracking_number = carrier, tracking_number

    @fsm.transition(field=status, source=sorted(INVOICE_UPDATE_STATES), target=None)
    def update_invoice(self, *, invoice_number: str, invoice_date, invoice_url: str = "") -> None:
        self.invoice_number, self.invoice_date, self.invoice_url = (
            invoice_number, invoice_date, invoice_url,
        )

    # --- helpers ------------------------------------------------------------------------
    def _next_ship_gate(self, *, label_required: bool, invoice_required: bool) -> Status:
        """First ship gate still open (label, then invoice), else Shipped (state table, ship)."""
        if label_required and self.label_printed_at is None:
            return S.PENDING_SHIPPING_LABEL
        if invoice_required and not self.invoice_number:
            return S.PENDING_INVOICE
        self.shipped_at = timezone.now()
        return S.SHIPPED

    @property
    def status_info(self) -> dict:
        return status_dict(self.status)


def default_ranking() -> list[str]:
    return ["same_region", "stock"]


class PlanningRule(TimeStampedModel):
    """One planning rule of a brand: which stock locations may take its new packages and in
    which order they are tried (packages.planning). Rules are tried by ``position``; the
    first that applies and places the package wins."""

    class Ranking(models.TextChoices):
        SAME_REGION = "same_region", "Same region as the delivery first"
        STOCK = "stock", "Most of the package in stock first"
        FEWEST_OPEN = "fewest_open", "Fewest open packages first"
        PRIORITY = "priority", "Highest location priority first"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="planning_rules")
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried lowest first.")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    delivery_type = models.CharField(
        max_length=20, choices=Package.DeliveryType.choices, blank=True,
        help_text="Applies only to packages of this delivery type (blank: any).")
    include_locations = models.ManyToManyField(
        "locations.StockLocation", blank=True, related_name="+",
        help_text="Candidates: only these locations (none chosen: every active packaging location).")
    exclude_locations = models.ManyToManyField(
        "locations.StockLocation", blank=True, related_name="+",
        help_text="Never these locations.")
    location_kind = models.CharField(
        max_length=16, blank=True, choices=StockLocation.Kind.choices,
        help_text="Only warehouses or only stores (blank: both).")
    requires_capacity = models.BooleanField(
        default=True, help_text="Only locations with capacity left (open packages below their maximum).")
    ranking = models.JSONField(
        default=default_ranking, blank=True,
        help_text="Order of the candidates, first key first: same_region, stock, fewest_open, "
                  "priority (ties: lowest location id).")
    allow_transfers = models.BooleanField(
        default=True,
        help_text="When no candidate holds every item, missing units may come by transfer.")

    class Meta:
        ordering = ["brand_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "name"], name="planning_rule_brand_name_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}: {self.position}. {self.name}"

    def clean(self) -> None:
        keys = self.ranking
        if not isinstance(keys, list) or not all(key in self.Ranking.values for key in keys):
            raise ValidationError({"ranking": "Must be a list of: " + ", ".join(self.Ranking.values)})
        if len(set(keys)) != len(keys):
            raise ValidationError({"ranking": "Each key at most once."})


class PackageItem(models.Model):
    """One SKU line of a package: ``quantity`` units, prices in BRL (or the brand's currency)."""

    package = models.ForeignKey(  # indexed by the (package, sku) unique constraint
        Package, on_delete=models.CASCADE, related_name="items", db_index=False)
    sku = models.ForeignKey("locations.Sku", on_delete=models.PROTECT, related_name="package_items")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    freight_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["package", "sku"], name="package_item_package_sku_uniq"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="package_item_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku.code}"


class PackageTransition(TransitionLog):
    """One row per action on a package: the transition log (state-machine.md).

    ``from_status`` is null for the ``create`` row. Data-only actions (``attach_invoice``
    before Pending Invoice, ``update_shipment``, ``update_invoice``, ``block``, ``unblock``,
    ``report_missing_items``) log ``from_status == to_status``.
    """

    package = models.ForeignKey(  # indexed by (package, id) in Meta
        Package, on_delete=models.CASCADE, related_name="transitions", db_index=False)
    from_status = models.IntegerField(choices=Status.choices, null=True, blank=True)
    to_status = models.IntegerField(choices=Status.choices)

    class Meta(TransitionLog.Meta):
        indexes = [models.Index(fields=["package", "id"])]

    def __str__(self) -> str:
        before = self.get_from_status_display() if self.from_status is not None else "—"
        return f"{self.package.number}: {self.action} ({before} → {self.get_to_status_display()})"
