"""Admin for webhook subscriptions and deliveries (imported by ``oms.admin``)."""

from __future__ import annotations

from django.contrib import admin, messages

from oms.admin_actions import ReadOnlyTabularInline
from oms.exceptions import OmsError
from oms.webhook_models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from oms.webhooks import (
    webhook_replay,
    webhook_secret_rotate,
    webhook_subscription_resume,
    webhook_subscription_save,
)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "target_url", "event_types", "is_active", "paused_at",
                    "consecutive_failures")
    list_filter = ("is_active",)
    search_fields = ("name", "target_url")
    readonly_fields = ("secret", "previous_secret", "previous_secret_expires_at",
                       "consecutive_failures", "paused_at", "pause_reason")
    actions = ["resume", "rotate_secret", "replay_failed"]

    def save_model(self, request, obj, form, change):
        try:
            webhook_subscription_save(subscription=obj)
        except OmsError as exc:
            messages.error(request, f"Not saved: {exc.detail}")

    @admin.action(description="Resume (un-pause) selected subscriptions")
    def resume(self, request, queryset):
        for subscription in queryset:
            webhook_subscription_resume(subscription_id=subscription.pk)
        self.message_user(request, f"{queryset.count()} subscription(s) resumed.")

    @admin.action(description="Rotate secret (old one stays valid for 24 hours)")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            rotated = webhook_secret_rotate(subscription_id=subscription.pk)
            self.message_user(request, f"{rotated.name}: new secret {rotated.secret}", messages.WARNING)

    @admin.action(description="Replay all failed deliveries of selected subscriptions")
    def replay_failed(self, request, queryset):
        ids = list(WebhookDelivery.objects.filter(subscription__in=queryset, status="failed")
                   .values_list("pk", flat=True))
        self.message_user(request, f"{webhook_replay(delivery_ids=ids)} delivery(ies) queued again.")


class WebhookAttemptInline(ReadOnlyTabularInline):
    model = WebhookAttempt
    fields = ("started_at", "duration_ms", "status_code", "error", "response_excerpt")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event_type", "subscription", "status", "attempt_count",
                    "last_status_code", "next_attempt_at", "delivered_at")
    list_filter = ("status", "subscription")
    search_fields = ("event__uuid", "event_type", "event__aggregate_id")
    list_select_related = ("subscription",)
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Replay selected deliveries")
    def replay(self, request, queryset):
        count = webhook_replay(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} delivery(ies) queued again.")
