"""Admin: packages read-only in state; every state change goes through an admin action
that calls the action's service (lock, log row, outbox event), never ``save()``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from oms.actors import user_actor
from oms.exceptions import OmsError
from packages.actions import ACTIONS, actor_may_run
from packages.forms import ACTION_FORMS, form_service_kwargs
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


class PackageItemInline(admin.TabularInline):
    model = PackageItem
    extra = 0
    can_delete = False
    fields = ("sku", "quantity", "unit_price", "freight_value")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class PackageTransitionInline(admin.TabularInline):
    model = PackageTransition
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    ordering = ("id",)

    def has_add_permission(self, request, obj=None):
        return False


def _make_admin_action(name: str):
    spec = ACTIONS[name]

    def run(modeladmin, request, queryset):
        return modeladmin.run_action(request, queryset, name)

    run.__name__ = f"action_{name}"
    run.short_description = f"{spec.label} (selected packages)"
    return run


OPERATOR_ACTIONS = [name for name in ACTIONS if actor_may_run(name, "user")]


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = ("number", "order_number", "status", "location", "brand", "delivery_type",
                    "ship_by", "status_changed_at")
    list_filter = ("status", "brand", "delivery_type")
    search_fields = ("number", "order_number", "tracking_number", "location__code",
                     "items__sku__code")
    list_select_related = ("location", "brand")
    raw_id_fields = ("location", "replaces", "denial_reason")
    inlines = [PackageItemInline, PackageTransitionInline]
    actions = [_make_admin_action(name) for name in OPERATOR_ACTIONS]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Package._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def run_action(self, request, queryset, name: str):
        """Run action ``name`` on every selected package through its service.

        Actions with parameters first show a form (``templates/admin/packages/action_form.html``).
        Each package is its own transaction; refusals are reported per package.
        """
        form_class = ACTION_FORMS.get(name)
        kwargs = {}
        if form_class is not None:
            form = form_class(request.POST if "apply" in request.POST else None)
            if not form.is_bound or not form.is_valid():
                return TemplateResponse(request, "admin/packages/action_form.html", {
                    **self.admin_site.each_context(request),
                    "title": ACTIONS[name].label,
                    "form": form,
                    "packages": queryset,
                    "action": f"action_{name}",
                    "opts": self.model._meta,
                })
            kwargs = form_service_kwargs(form)
        service = ACTION_SERVICES[name]
        actor = user_actor(request.user)
        done, refused = 0, []
        for package in queryset.select_related(None).only("pk", "number"):
            try:
                service(package_id=package.pk, actor=actor, **kwargs)
                done += 1
            except OmsError as exc:
                refused.append(f"{package.number}: {exc.detail}")
        if done:
            self.message_user(request, f"{ACTIONS[name].label}: {done} package(s) done.", messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, line, messages.ERROR)
        if len(refused) > 20:
            self.message_user(request, f"… and {len(refused) - 20} more refused.", messages.ERROR)
        return None
