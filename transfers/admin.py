"""Admin: transfers read-only in state; every state change goes through an admin action
that runs the declared action through the transfer engine (locks, stock, log row, outbox
event, package hooks), never ``save()``. Admins act on every location (no side scope)."""

from __future__ import annotations

from django.contrib import admin

from oms.actions.admin import EngineActionsMixin, ReadOnlyTabularInline, admin_actions_for
from transfers.engine import TRANSFERS, transfer_act
from transfers.models import Transfer, TransferItem, TransferTransition


class TransferItemInline(ReadOnlyTabularInline):
    model = TransferItem
    fields = ("sku", "quantity")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sku")


class TransferTransitionInline(ReadOnlyTabularInline):
    model = TransferTransition
    fields = ("created_at", "action", "from_status", "to_status", "actor", "reason")
    ordering = ("id",)


@admin.register(Transfer)
class TransferAdmin(EngineActionsMixin, admin.ModelAdmin):
    list_display = ("number", "package", "source", "destination", "status", "carrier",
                    "tracking_number", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("number", "package__number", "tracking_number", "source__code",
                     "destination__code", "items__sku__code")
    list_select_related = ("package", "source", "destination")
    inlines = [TransferItemInline, TransferTransitionInline]
    actions = admin_actions_for(TRANSFERS, "transfers")
    machine = TRANSFERS
    show_full_result_count = False

    def act_on(self, name, entries, *, actor):
        return transfer_act(name, entries, actor=actor)

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
