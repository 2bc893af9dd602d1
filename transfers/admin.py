"""Admin: transfers read-only in state; every state change goes through an admin action
that calls the action's service (locks, stock, log row, outbox event, package hooks), never
``save()``."""

from __future__ import annotations

from django.contrib import admin, messages

from oms.actors import user_actor
from oms.exceptions import OmsError
from transfers.models import TRANSFER_ACTIONS, Transfer, TransferItem, TransferTransition
from transfers.services import TRANSFER_ACTION_SERVICES

ACTION_LABELS = {
    "ready_for_dispatch": "Ready for dispatch",
    "dispatch": "Dispatch",
    "receive": "Mark received",
    "cancel": "Cancel",
    "request_cancellation": "Request cancellation",
    "confirm_cancellation": "Confirm cancellation",
    "reject_cancellation": "Reject cancellation",
}


class TransferItemInline(admin.TabularInline):
    model = TransferItem
    extra = 0
    can_delete = False
    fields = ("sku", "quantity")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class TransferTransitionInline(admin.TabularInline):
    model = TransferTransition
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    ordering = ("id",)

    def has_add_permission(self, request, obj=None):
        return False


def _make_admin_action(name: str):
    def run(modeladmin, request, queryset):
        return modeladmin.run_action(request, queryset, name)

    run.__name__ = f"action_{name}"
    run.short_description = f"{ACTION_LABELS[name]} (selected transfers)"
    return run


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ("number", "package", "source", "destination", "status", "carrier",
                    "tracking_number", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("number", "package__number", "tracking_number", "source__code",
                     "destination__code", "items__sku__code")
    list_select_related = ("package", "source", "destination")
    inlines = [TransferItemInline, TransferTransitionInline]
    actions = [_make_admin_action(name) for name in TRANSFER_ACTIONS]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Transfer._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def run_action(self, request, queryset, name: str):
        """Run action ``name`` on every selected transfer through its service.

        Each transfer is its own transaction; refusals (``OmsError``) are reported per
        transfer as error messages.
        """
        service = TRANSFER_ACTION_SERVICES[name]
        actor = user_actor(request.user)
        done, refused = 0, []
        for transfer in queryset.select_related(None).only("pk", "number").order_by("pk"):
            try:
                service(transfer_id=transfer.pk, actor=actor)
                done += 1
            except OmsError as exc:
                refused.append(f"{transfer.number}: {exc.detail}")
        if done:
            self.message_user(request, f"{ACTION_LABELS[name]}: {done} transfer(s) done.",
                              messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, line, messages.ERROR)
        if len(refused) > 20:
            self.message_user(request, f"… and {len(refused) - 20} more refused.", messages.ERROR)
        return None
