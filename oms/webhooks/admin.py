"""Admin for webhook subscriptions and deliveries (imported by ``oms.admin``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.timesince import timesince

from oms.actions.admin import ReadOnlyTabularInline
from oms.actions.errors import OmsError
from oms.webhooks.delivery import (
    webhook_event_types_check,
    webhook_replay,
    webhook_secret_rotate,
    webhook_subscription_list,
    webhook_subscription_pause,
    webhook_subscription_resume,
    webhook_subscription_save,
    webhook_target_check,
)
from oms.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionForm(forms.ModelForm):
    """Shows a refused target URL or event type pattern on its field (the service checks
    again on save)."""

    target_url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookSubscription
        fields = ("name", "target_url", "event_types", "event_type_style", "is_active")
        help_texts = {"event_types": 'A JSON list of patterns, e.g. ["package.*"] or '
                                     '["package.status.shipped", "transfer.status.*"].'}

    def clean_target_url(self):
        url = self.cleaned_data["target_url"]
        try:
            webhook_target_check(url)
        except OmsError as exc:
            raise forms.ValidationError(exc.detail) from None
        return url

    def clean_event_types(self):
        types = self.cleaned_data["event_types"]
        try:
            webhook_event_types_check(types)
        except OmsError as exc:
            raise forms.ValidationError(exc.detail) from None
        return types


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "target_url", "event_types", "event_type_style", "is_active", "paused_at",
                    "failing_since", "backlog")
    list_filter = ("is_active",)
    search_fields = ("name", "target_url")
    readonly_fields = ("secret", "previous_secret", "previous_secret_expires_at",
                       "consecutive_failures", "failing_since", "paused_at", "pause_reason",
                       "backlog")
    actions = ["pause", "resume", "rotate_secret", "replay_failed"]

    def get_queryset(self, request):
        return webhook_subscription_list()

    @admin.display(description="Backlog")
    def backlog(self, obj) -> str:
        """Pending deliveries and the oldest one's age, e.g. "12 pending, oldest 3 minutes"."""
        if not getattr(obj, "backlog_count", 0):
            return "none"
        return f"{obj.backlog_count} pending, oldest {timesince(obj.backlog_oldest_at, timezone.now())}"

    def save_model(self, request, obj, form, change):
        try:
            webhook_subscription_save(subscription=obj)
        except OmsError as exc:
            messages.error(request, f"Not saved: {exc.detail}")

    @admin.action(description="Pause selected subscriptions (deliveries wait until resumed)")
    def pause(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for subscription_id in ids:
            webhook_subscription_pause(subscription_id=subscription_id,
                                       reason=f"paused by {request.user} in admin")
        self.message_user(request, f"{len(ids)} subscription(s) paused.")

    @admin.action(description="Resume selected subscriptions (send their backlog, oldest first)")
    def resume(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for subscription_id in ids:
            webhook_subscription_resume(subscription_id=subscription_id)
        self.message_user(request, f"{len(ids)} subscription(s) resumed.")

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
