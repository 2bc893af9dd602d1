"""Admin for API tokens (keys shown once, on creation) and idempotency records (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages

from oms.api.models import ApiToken, IdempotencyRecord
from oms.api.tokens import api_token_assign_new_key


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Create a token here: its key appears once, in the confirmation message; only a hash is
    stored. "Issue a new key" replaces the key of the selected tokens the same way."""

    list_display = ("name", "user", "key_prefix", "all_locations", "is_read_only", "is_active",
                    "created_at", "last_used_at")
    list_filter = ("is_active", "is_read_only", "all_locations")
    search_fields = ("name", "user__username", "key_prefix")
    filter_horizontal = ("locations",)
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    fields = ("name", "user", "all_locations", "locations", "is_read_only", "is_active",
              "key_prefix", "created_at", "last_used_at")
    actions = ["issue_new_key"]

    def save_model(self, request, obj, form, change):
        if not change:
            key = api_token_assign_new_key(obj, save=False)
            super().save_model(request, obj, form, change)
            self.message_user(request, f"API key for {obj.name!r} (copy it now, it is not shown again): "
                                       f"{key}", messages.WARNING)
        else:
            # Only the columns the form edits: a whole-row save would write back the key and
            # last_used_at as read, reviving a key replaced meanwhile by "Issue a new key".
            columns = {field.name for field in ApiToken._meta.concrete_fields}
            obj.save(update_fields=[name for name in form.changed_data if name in columns])

    @admin.action(description="Issue a new key (the old one stops working)")
    def issue_new_key(self, request, queryset):
        for token in queryset:
            key = api_token_assign_new_key(token)
            self.message_user(request, f"New API key for {token.name!r} (shown once): {key}",
                              messages.WARNING)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    """Read-only view of stored first responses, for support."""

    list_display = ("key", "token", "method", "path", "response_status", "created_at", "completed_at")
    list_filter = ("method", "response_status")
    search_fields = ("key", "path")
    list_select_related = ("token",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
