"""Admin: packages read-only in state; every state change goes through an admin action
that runs the declared action through the package engine, never ``save()``."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from oms.actions.admin import EngineActionsMixin, ReadOnlyTabularInline, admin_actions_for
from packages.brands import brand_check_disabled_actions, brand_update
from packages.engine import PACKAGES
from packages.models import Brand, DenialReason, Package, PackageItem, PackageTransition, PlanningRule


class BrandForm(forms.ModelForm):
    class Meta:
        model = Brand
        fields = ["slug", "name", "disabled_actions", "requires_shipping_label", "requires_invoice",
                  "recheck_interval_minutes", "fallback_location"]

    def clean_disabled_actions(self):
        value = self.cleaned_data["disabled_actions"]
        if isinstance(value, list) and all(isinstance(name, str) for name in value):
            brand_check_disabled_actions(value)
        return value


class PlanningRuleInline(admin.TabularInline):
    """The brand's rules in the order they are tried; each opens its own page for the rest."""

    model = PlanningRule
    fields = ("position", "name", "is_active", "delivery_type", "location_kind", "requires_capacity",
              "allow_transfers")
    ordering = ("position", "id")
    show_change_link = True
    extra = 0


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    form = BrandForm
    list_display = ("slug", "name", "requires_shipping_label", "requires_invoice",
                    "recheck_interval_minutes", "fallback_location")
    search_fields = ("slug", "name")
    autocomplete_fields = ("fallback_location",)
    inlines = [PlanningRuleInline]

    def save_model(self, request, obj, form, change):
        brand_update(brand=obj)


RANK_CHOICES = [("", "—"), *PlanningRule.Ranking.choices]
RANK_FIELDS = ("rank_1", "rank_2", "rank_3", "rank_4")


class PlanningRuleForm(forms.ModelForm):
    """A planning rule; its ranking as up to four ordered choices (first key first)."""

    rank_1 = forms.ChoiceField(choices=RANK_CHOICES, required=False, label="Rank candidates by")
    rank_2 = forms.ChoiceField(choices=RANK_CHOICES, required=False, label="then by")
    rank_3 = forms.ChoiceField(choices=RANK_CHOICES, required=False, label="then by")
    rank_4 = forms.ChoiceField(choices=RANK_CHOICES, required=False, label="then by")

    class Meta:
        model = PlanningRule
        fields = ["brand", "position", "name", "is_active", "delivery_type", "include_locations",
                  "exclude_locations", "location_kind", "requires_capacity", "allow_transfers"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ranking = list(self.instance.ranking or []) if self.instance.pk else PlanningRule().ranking
        for name, key in zip(RANK_FIELDS, ranking, strict=False):
            self.fields[name].initial = key

    def clean(self):
        cleaned = super().clean()
        keys = [cleaned.get(name) for name in RANK_FIELDS if cleaned.get(name)]
        if len(set(keys)) != len(keys):
            raise forms.ValidationError("Rank by each key at most once.")
        include = set(cleaned.get("include_locations") or [])
        both = include & set(cleaned.get("exclude_locations") or [])
        if both:
            raise forms.ValidationError("A location cannot be both included and excluded: "
                                        + ", ".join(sorted(location.code for location in both)))
        self.instance.ranking = keys
        return cleaned


@admin.register(PlanningRule)
class PlanningRuleAdmin(admin.ModelAdmin):
    """Planning rules: tried by position per brand, the first that places the package wins
    (``packages.planning``)."""

    form = PlanningRuleForm
    list_display = ("name", "brand", "position", "is_active", "delivery_type", "location_kind",
                    "requires_capacity", "allow_transfers", "ranking_text")
    list_editable = ("position", "is_active")
    list_filter = ("brand", "is_active")
    list_select_related = ("brand",)
    search_fields = ("name", "brand__slug")
    autocomplete_fields = ("include_locations", "exclude_locations")
    ordering = ("brand__slug", "position", "id")
    fieldsets = [
        (None, {"fields": ("brand", "position", "name", "is_active", "delivery_type")}),
        ("Candidates", {"fields": ("include_locations", "exclude_locations", "location_kind",
                                   "requires_capacity")}),
        ("Ranking", {"fields": RANK_FIELDS}),
        ("Missing items", {"fields": ("allow_transfers",)}),
    ]

    @admin.display(description="Ranking")
    def ranking_text(self, obj):
        return ", ".join(obj.ranking or []) or "—"


@admin.register(DenialReason)
class DenialReasonAdmin(admin.ModelAdmin):
    list_display = ("title", "priority", "is_active")
    list_filter = ("is_active",)


class BlockedFilter(admin.SimpleListFilter):
    """Blocked (on hold) or not."""

    title = "blocked"
    parameter_name = "blocked"

    def lookups(self, request, model_admin):
        return [("true", "Blocked"), ("false", "Not blocked")]

    def queryset(self, request, queryset):
        if self.value() in ("true", "false"):
            return queryset.filter(blocked_at__isnull=self.value() == "false")
        return queryset


class PackageItemInline(ReadOnlyTabularInline):
    model = PackageItem
    fields = ("sku", "quantity", "unit_price", "freight_value")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sku")


class PackageTransitionInline(ReadOnlyTabularInline):
    model = PackageTransition
    fields = ("created_at", "action", "from_status", "to_status", "actor", "reason")
    ordering = ("id",)


@admin.register(Package)
class PackageAdmin(EngineActionsMixin, admin.ModelAdmin):
    list_display = ("number", "order_number", "status", "blocked", "location", "brand",
                    "delivery_type", "ship_by", "status_changed_at")
    list_filter = ("status", BlockedFilter, "brand", "delivery_type")
    search_fields = ("number", "order_number", "tracking_number", "location__code",
                     "items__sku__code")
    list_select_related = ("location", "brand")
    raw_id_fields = ("location", "replaces", "denial_reason")
    inlines = [PackageItemInline, PackageTransitionInline]
    actions = admin_actions_for(PACKAGES, "packages")
    machine = PACKAGES
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Package._meta.fields] + ["replaced_by"]

    @admin.display(description="Blocked", boolean=True)
    def blocked(self, obj):
        return obj.is_blocked

    @admin.display(description="Replaced by")
    def replaced_by(self, obj):
        replacement = Package.objects.filter(replaces=obj).only("pk", "number").first()
        if replacement is None:
            return "—"
        url = reverse("admin:packages_package_change", args=[replacement.pk])
        return format_html('<a href="{}">{}</a>', url, replacement.number)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # View-only change page (no Save; a POST is 403): a saved form would write back the
        # whole row as read, undoing any action committed meanwhile. Actions stay available.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
