"""Admin: packages read-only in state; every state change goes through an admin action
that calls the action's service (lock, log row, outbox event), never ``save()``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from oms.admin_actions import ReadOnlyTabularInline, ServiceActionsMixin, make_admin_action
from packages.actions import ACTIONS, actor_may_run
from packages.forms import ACTION_FORMS
from packages.models import Brand, DenialReason, Package, PackageItem, PackageTransition
from packages.services import ACTION_SERVICES, brand_update


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "requires_shipping_label", "requires_invoice",
                    "recheck_interval_minutes")
    search_fields = ("slug", "name")

    def save_model(self, request, obj, form, change):
        brand_update(brand=obj)


@admin.register(DenialReason)
class DenialReasonAdmin(admin.ModelAdmin):
    list_display = ("title", "priority", "is_active")
    list_filter = ("is_active",)


class PackageItemInline(ReadOnlyTabularInline):
    model = PackageItem
    fields = ("sku", "quantity", "unit_price", "freight_value")


class PackageTransitionInline(ReadOnlyTabularInline):
    model = PackageTransition
    fields = ("created_at", "action", "from_status", "to_status", "actor", "reason")
    ordering = ("id",)


OPERATOR_ACTIONS = [name for name in ACTIONS if actor_may_run(name, "user")]


@admin.register(Package)
class PackageAdmin(ServiceActionsMixin, admin.ModelAdmin):
    list_display = ("number", "order_number", "status", "location", "brand", "delivery_type",
                    "ship_by", "status_changed_at")
    list_filter = ("status", "brand", "delivery_type")
    search_fields = ("number", "order_number", "tracking_number", "location__code",
                     "items__sku__code")
    list_select_related = ("location", "brand")
    raw_id_fields = ("location", "replaces", "denial_reason")
    inlines = [PackageItemInline, PackageTransitionInline]
    actions = [make_admin_action(name, ACTIONS[name].label, "packages") for name in OPERATOR_ACTIONS]
    action_services = ACTION_SERVICES
    action_labels = {name: spec.label for name, spec in ACTIONS.items()}
    action_forms = ACTION_FORMS
    service_id_kwarg = "package_id"
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Package._meta.fields] + ["replaced_by"]

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
