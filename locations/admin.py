from django.contrib import admin, messages

from locations.models import Sku, StockLevel, StockLocation
from locations.services import stock_level_set
from oms.exceptions import OmsError


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "region", "kind", "is_active", "can_package", "is_pickup_point")
    list_filter = ("kind", "is_active", "can_package", "is_pickup_point", "region")
    search_fields = ("code", "name", "city")


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category", "weight_g")
    list_filter = ("category",)
    search_fields = ("code", "name")


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    """Stock rows. ``reserved`` is owned by packages and read-only; ``on_hand`` is edited
    through ``stock_level_set`` so it can never drop below what is reserved."""

    list_display = ("location", "sku", "on_hand", "reserved", "damaged")
    list_select_related = ("location", "sku")
    search_fields = ("location__code", "sku__code")
    raw_id_fields = ("location", "sku")
    readonly_fields = ("reserved", "damaged")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("location", "sku", "reserved", "damaged")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        # The form already checked the constraints (reserved <= on_hand); the service re-checks
        # under a row lock, since a package may have reserved units meanwhile.
        try:
            stock_level_set(location=obj.location, sku=obj.sku, on_hand=obj.on_hand)
        except OmsError as exc:
            messages.error(request, f"Stock not changed: {exc.detail}")

