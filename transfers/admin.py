"""Admin: transfers read-only in state; every state change goes through an admin action
that calls the action's service (locks, stock, log row, outbox event, package hooks), never
``save()``."""

from __future__ import annotations

from django.contrib import admin

from oms.admin_actions import ReadOnlyTabularInline, ServiceActionsMixin, make_admin_action
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


class TransferItemInline(ReadOnlyTabularInline):
    model = TransferItem
    fields = ("sku", "quantity")


class TransferTransitionInline(ReadOnlyTabularInline):
    model = TransferTransition
    fields = ("created_at", "action", "from_status", "to_status", "actor", "reason")
    ordering = ("id",)


@admin.register(Transfer)
class TransferAdmin(ServiceActionsMixin, admin.ModelAdmin):
    list_display = ("number", "package", "source", "destination", "status", "carrier",
                    "tracking_number", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("number", "package__number", "tracking_number", "source__code",
                     "destination__code", "items__sku__code")
    list_select_related = ("package", "source", "destination")
    inlines = [TransferItemInline, TransferTransitionInline]
    actions = [make_admin_action(name, ACTION_LABELS[name], "transfers") for name in TRANSFER_ACTIONS]
    action_services = TRANSFER_ACTION_SERVICES
    action_labels = ACTION_LABELS
    service_id_kwarg = "transfer_id"
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Transfer._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # View-only change page (no Save; a POST is 403): a saved form would write back the
        # whole row as read, undoing any action committed meanwhile. Actions stay available.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
