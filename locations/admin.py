from django import forms
from django.contrib import admin, messages

from locations.models import OperatorAssignment, Sku, StockLevel, StockLocation
from locations.services import stock_level_set, stock_location_save
from oms.actions.errors import OmsError
from oms.local_time import default_location_time_zone


class StockLocationForm(forms.ModelForm):
    """A location's fields; the priority may be left out (0). ``open_packages`` is not
    editable: the database keeps it."""

    priority = forms.IntegerField(required=False, initial=0,
                                  help_text=StockLocation._meta.get_field("priority").help_text)

    time_zone = forms.CharField(required=False, max_length=64, initial=default_location_time_zone,
                                help_text=StockLocation._meta.get_field("time_zone").help_text
                                + " Blank: the default zone.")

    class Meta:
        model = StockLocation
        fields = ["code", "name", "city", "region", "postcode", "time_zone", "kind", "is_active",
                  "can_package", "is_pickup_point", "priority", "max_open_packages"]

    def clean_priority(self):
        return self.cleaned_data.get("priority") or 0

    def clean_time_zone(self):
        """A blank zone is the default (``OMS_DEFAULT_LOCATION_TIME_ZONE``); the model checks the name."""
        return self.cleaned_data.get("time_zone", "").strip() or default_location_time_zone()


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):
    form = StockLocationForm
    list_display = ("code", "name", "city", "region", "time_zone", "kind", "is_active", "can_package",
                    "is_pickup_point", "priority", "capacity")
    list_filter = ("kind", "is_active", "can_package", "is_pickup_point", "region")
    search_fields = ("code", "name", "city")
    readonly_fields = ("open_packages",)

    @admin.display(description="Open / max packages")
    def capacity(self, obj):
        maximum = "—" if obj.max_open_packages is None else obj.max_open_packages
        return f"{obj.open_packages} / {maximum}"

    def save_model(self, request, obj, form, change):
        stock_location_save(location=obj)  # publishes stock_location.created / .updated


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category", "weight_g")
    list_filter = ("category",)
    search_fields = ("code", "name")


class StockLevelForm(forms.ModelForm):
    """Refuses an on-hand count below what open packages hold reserved. ``on_hand_read``
    carries the count the form was opened with, so a save after stock moved is refused."""

    on_hand_read = forms.IntegerField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = StockLevel
        fields = ("location", "sku", "on_hand")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["on_hand_read"].initial = self.instance.on_hand

    def clean_on_hand(self):
        on_hand = self.cleaned_data["on_hand"]
        if self.instance.pk and on_hand < self.instance.reserved:
            raise forms.ValidationError(
                f"Cannot go below the {self.instance.reserved} units reserved for open packages.")
        return on_hand


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    """Stock rows. ``reserved`` is owned by packages and read-only; ``on_hand`` is edited
    through ``stock_level_set`` so it can never drop below what is reserved."""

    form = StockLevelForm
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
        # under a row lock, since a package may have reserved units meanwhile. An unchanged
        # count writes nothing; a count typed over one that moved since the form opened (a
        # package picked, a transfer received) is refused rather than undoing that move.
        if change:
            if "on_hand" not in form.changed_data:
                return
            read = form.cleaned_data.get("on_hand_read")
            current = StockLevel.objects.filter(pk=obj.pk).values_list("on_hand", flat=True).first()
            if read is None or current != read:
                messages.error(request, f"Stock not changed: it moved to {current} on hand since "
                                        "this page was opened. Check the count and save again.")
                return
        try:
            level = stock_level_set(location=obj.location, sku=obj.sku, on_hand=obj.on_hand)
        except OmsError as exc:
            messages.error(request, f"Stock not changed: {exc.detail}")
            return
        obj.pk, obj.reserved, obj.damaged = level.pk, level.reserved, level.damaged

    def has_delete_permission(self, request, obj=None):
        # Reservations and picked units refer to these rows; set on_hand to 0 instead.
        return False



@admin.register(OperatorAssignment)
class OperatorAssignmentAdmin(admin.ModelAdmin):
    """Which operators work at which stock locations (they see only those in the web UI)."""

    list_display = ("user", "location")
    list_select_related = ("user", "location")
    search_fields = ("user__username", "location__code", "location__name", "location__city")
    raw_id_fields = ("user", "location")
