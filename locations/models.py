"""Stock locations, SKUs and stock levels.

Quantities are whole units. ``on_hand`` counts sellable units on the shelf; ``reserved`` is
the part of ``on_hand`` promised to open packages (so ``available = on_hand - reserved``);
``damaged`` counts units set aside as defective (not part of ``on_hand``). The database
refuses any negative quantity and any ``reserved > on_hand``.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from oms.actions.row_guard import UpdateFieldsRequired
from oms.local_time import default_location_time_zone, validate_time_zone
from oms.timestamps import TimeStampedModel


class StockLocation(TimeStampedModel):
    """A warehouse or store holding stock. ``code`` is the external key (Olist seller id)."""

    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", "Warehouse"
        STORE = "store", "Store"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True, db_index=True)
    postcode = models.CharField(max_length=20, blank=True)
    time_zone = models.CharField(
        max_length=64, default=default_location_time_zone, validators=[validate_time_zone],
        help_text="IANA time zone name (e.g. America/Sao_Paulo): operator screens show the "
                  "location's times in it.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WAREHOUSE)
    is_active = models.BooleanField(default=True)
    can_package = models.BooleanField(default=True)
    is_pickup_point = models.BooleanField(default=False)
    priority = models.IntegerField(
        default=0, help_text="Planning rules ranking by priority prefer higher values.")
    max_open_packages = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Capacity: how many open packages the location may hold (blank: no limit).")
    # Kept by the database (a trigger on the package table, packages.capacity): never
    # written by save(), see below.
    open_packages = models.PositiveIntegerField(
        default=0, editable=False,
        help_text="Open packages here now: Pending, In Progress, Pending Transfer, Ready to "
                  "Packaging and Pending Cancellation.")

    # Columns the database maintains; ``save()`` of a stored row leaves them out, so a form
    # or a stale instance never writes back a count it read earlier.
    DATABASE_MAINTAINED = frozenset({"open_packages"})

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                update_fields = [f.name for f in self._meta.concrete_fields if not f.primary_key]
            kwargs["update_fields"] = [name for name in update_fields
                                       if name not in self.DATABASE_MAINTAINED]
        super().save(*args, **kwargs)

    @property
    def capacity_left(self) -> int | None:
        """Open packages the location may still take (None: no limit), as last read."""
        if self.max_open_packages is None:
            return None
        return max(self.max_open_packages - self.open_packages, 0)


class Sku(TimeStampedModel):
    """A stock-keeping unit. ``code`` is the external key (Olist product id).

    Weight in grams and dimensions in centimetres; any may be unknown (null).
    """

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True)
    weight_g = models.PositiveIntegerField(null=True, blank=True)
    length_cm = models.PositiveIntegerField(null=True, blank=True)
    height_cm = models.PositiveIntegerField(null=True, blank=True)
    width_cm = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "SKU"

    def __str__(self) -> str:
        return self.code


class StockLevel(UpdateFieldsRequired, TimeStampedModel):
    """Units of one SKU at one stock location. Change it only through ``locations.services``."""

    # Both keys are indexed by the composite (location, sku) constraint and (sku, location)
    # index below; single-column twins would only slow every insert.
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="stock_levels",
                                 db_index=False)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="stock_levels", db_index=False)
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    damaged = models.PositiveIntegerField(default=0)
    # No index: nothing reads stock rows by creation time.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["location_id", "sku_id"]
        constraints = [
            models.UniqueConstraint(fields=["location", "sku"], name="stock_level_location_sku_uniq"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_level_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_level_reserved_gte_0"),
            models.CheckConstraint(condition=Q(damaged__gte=0), name="stock_level_damaged_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_level_reserved_lte_on_hand"
            ),
        ]
        indexes = [models.Index(fields=["sku", "location"])]

    def __str__(self) -> str:
        return (f"{self.sku.code} at {self.location.code}: {self.on_hand} on hand, "
                f"{self.reserved} reserved")

    @property
    def available(self) -> int:
        """Units that can still be promised: ``on_hand - reserved``."""
        return self.on_hand - self.reserved


class OperatorAssignment(TimeStampedModel):
    """An operator (a Django user) assigned to work at a stock location.

    Operators see and act only on the packages and transfers of the locations they are
    assigned to; staff users see every location (``locations.selectors``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="location_assignments"
    )
    location = models.ForeignKey(
        StockLocation, on_delete=models.CASCADE, related_name="operator_assignments"
    )

    class Meta:
        ordering = ["user_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "location"],
                                    name="operator_assignment_user_location_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.location.code}"
