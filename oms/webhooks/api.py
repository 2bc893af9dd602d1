"""REST endpoints of webhook subscriptions and the ordered event feed (``GET /api/v1/events/``).

Integration-wide (not scoped to stock locations): they need a staff user's token that
covers all locations, and a read-write token to change anything.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.db import models
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiTypes,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from oms.actions.inputs import StrictInputSerializer
from oms.api.errors import StrictQueryParamsMixin
from oms.api.permissions import require_all_locations
from oms.api.schema import LOCATION_HEADER, StrictBooleanField, StrictCharField, StrictURLField
from oms.events.models import EventTypeStyle
from oms.events.outbox import event_feed
from oms.events.types import EVENT_PATTERN_RE, event_types
from oms.webhooks.delivery import (
    webhook_replay,
    webhook_secret_rotate,
    webhook_subscription_list,
    webhook_subscription_pause,
    webhook_subscription_resume,
    webhook_subscription_save,
)
from oms.webhooks.models import WebhookDelivery, WebhookSubscription

FEED_LIMIT_MAX = 1000
EVENT_PATTERN_MAX_LENGTH = 100


@extend_schema_field({"type": "string", "maxLength": EVENT_PATTERN_MAX_LENGTH,
                      "pattern": f"^(?:{EVENT_PATTERN_RE.pattern})$"})
class EventTypePatternField(StrictCharField):
    """An event type pattern: a JSON string of at most ``EVENT_PATTERN_MAX_LENGTH`` characters,
    taken as sent (not trimmed). Its form (``EVENT_PATTERN_RE``, published as the schema's
    ``pattern``) and that it matches a published type are the service's one check
    (``webhook_event_types_check``: 400 with ``field`` and ``valid_event_types``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", EVENT_PATTERN_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    """A subscription. ``secret`` is shown to read-write tokens so the integrator can verify
    signatures; a read-only token's answers leave it out.

    ``event_types``: patterns each matching at least one published type (see
    ``GET /api/v1/webhooks/event-types/``). ``event_type_style``: ``transitioned`` (default;
    a transition's ``type`` is ``package.status.transitioned``, ``status_type`` the state's
    type) or ``per_state`` (``type`` is ``package.status.shipped``). Input is strict: strings must be
    JSON strings, ``is_active`` a JSON boolean.

    The backlog: ``backlog_count`` pending deliveries, the oldest created at
    ``backlog_oldest_at`` (``backlog_oldest_age_seconds`` ago). A read-only field sent with a
    value other than its current one is refused (400; the backlog fields are ignored):
    pause and resume are the
    ``…/pause/`` and ``…/resume/`` actions.
    """

    name = StrictCharField(max_length=100)
    target_url = StrictURLField(max_length=500, help_text="A public http(s) URL.")
    event_types = serializers.ListField(
        child=EventTypePatternField(),
        min_length=1, max_length=50,
        help_text='Patterns such as "*", "package.*", "package.status.shipped", "transfer.status.*", '
                  "each matching at least one type of GET /api/v1/webhooks/event-types/.")
    is_active = StrictBooleanField(required=False)
    is_paused = serializers.BooleanField(read_only=True)
    backlog_count = serializers.SerializerMethodField()
    backlog_oldest_at = serializers.SerializerMethodField()
    backlog_oldest_age_seconds = serializers.SerializerMethodField()

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.BooleanField: StrictBooleanField,
                                models.CharField: StrictCharField, models.URLField: StrictURLField}

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "target_url", "event_types", "event_type_style", "is_active",
                  "secret", "previous_secret_expires_at", "is_paused", "paused_at", "pause_reason",
                  "failing_since", "consecutive_failures", "backlog_count", "backlog_oldest_at",
                  "backlog_oldest_age_seconds", "created_at", "updated_at"]
        read_only_fields = ["id", "secret", "previous_secret_expires_at", "paused_at",
                            "pause_reason", "failing_since", "consecutive_failures", "created_at",
                            "updated_at"]

    def _backlog(self, obj) -> tuple[int, dt.datetime | None]:
        if not hasattr(obj, "backlog_count"):  # not read through webhook_subscription_list
            obj = webhook_subscription_list().get(pk=obj.pk)
        return obj.backlog_count, obj.backlog_oldest_at

    def get_backlog_count(self, obj) -> int:
        return self._backlog(obj)[0]

    def get_backlog_oldest_at(self, obj) -> dt.datetime | None:
        oldest = self._backlog(obj)[1]
        return serializers.DateTimeField().to_representation(oldest) if oldest else None

    def get_backlog_oldest_age_seconds(self, obj) -> int | None:
        oldest = self._backlog(obj)[1]
        return max(int((timezone.now() - oldest).total_seconds()), 0) if oldest else None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or getattr(request.auth, "is_read_only", True):
            data.pop("secret", None)  # only a token that may change the subscription sees it
        return data

    def to_internal_value(self, data):
        if isinstance(data, dict):
            current = self.to_representation(self.instance) if self.instance is not None else {}
            sent = {name for name, field in self.fields.items() if field.read_only and name in data
                    and not name.startswith("backlog_")}  # the backlog moves on its own
            changed = {name: ["Read-only."] for name in sent
                       if self.instance is None or data[name] != current.get(name)}
            if "paused_at" in changed or "is_paused" in changed:
                changed.update({name: ["Read-only: POST …/pause/ or …/resume/ instead."]
                                for name in ("paused_at", "is_paused") if name in changed})
            if changed:
                raise ValidationError(changed)
        return super().to_internal_value(data)

    def save(self, **kwargs):
        instance = self.instance or WebhookSubscription()
        for name, value in {**self.validated_data, **kwargs}.items():
            setattr(instance, name, value)
        self.instance = webhook_subscription_save(subscription=instance)
        return self.instance


class WebhookPauseSerializer(StrictInputSerializer):
    """``{"reason": str}`` (optional, <= 255 characters)."""

    reason = StrictCharField(max_length=255, required=False, default="paused through the API")


class WebhookReplaySerializer(serializers.Serializer):
    """``{"queued": n}``: how many failed deliveries were queued again."""

    queued = serializers.IntegerField(min_value=0)


_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                 description="The subscription's id.")


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions"),
    create=extend_schema(summary="Subscribe an endpoint to events", parameters=[LOCATION_HEADER]),
    retrieve=extend_schema(parameters=[_ID_PARAMETER]),
    update=extend_schema(parameters=[_ID_PARAMETER]),
    partial_update=extend_schema(parameters=[_ID_PARAMETER]),
    destroy=extend_schema(parameters=[_ID_PARAMETER]),
)
class WebhookSubscriptionViewSet(StrictQueryParamsMixin, mixins.ListModelMixin,
                                 mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                                 mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                                 viewsets.GenericViewSet):
    """Webhook subscriptions: target URL (public http(s) only), event type patterns such as
    ``package.*``, active flag. Deliveries are signed per Standard Webhooks with ``secret``.
    A subscription receives the events created after it; while paused its deliveries wait,
    and are sent oldest first when it is resumed."""

    serializer_class = WebhookSubscriptionSerializer
    requires_staff_token = True  # OpenAPI: 403 for other tokens

    def get_queryset(self):
        return webhook_subscription_list()

    def get_success_headers(self, data):
        return {"Location": reverse("api:webhook-subscription-detail", kwargs={"pk": data["id"]})}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        require_all_locations(request)

    def _respond(self, subscription):
        return Response(self.get_serializer(self.get_queryset().get(pk=subscription.pk)).data)

    @extend_schema(request=None, responses=WebhookSubscriptionSerializer, parameters=[_ID_PARAMETER])
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = self.get_object()
        return self._respond(webhook_secret_rotate(subscription_id=subscription.pk))

    @extend_schema(request=WebhookPauseSerializer, responses=WebhookSubscriptionSerializer,
                   parameters=[_ID_PARAMETER])
    @action(detail=True, methods=["post"], url_path="pause")
    def pause(self, request, pk=None):
        """Pause: deliveries are held pending (nothing is lost) until resumed."""
        subscription = self.get_object()
        data = WebhookPauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(webhook_subscription_pause(subscription_id=subscription.pk,
                                                        reason=data.validated_data["reason"]))

    @extend_schema(request=None, responses=WebhookSubscriptionSerializer, parameters=[_ID_PARAMETER])
    @action(detail=True, methods=["post"], url_path="resume")
    def resume(self, request, pk=None):
        """Resume: the held deliveries are sent, oldest first."""
        subscription = self.get_object()
        return self._respond(webhook_subscription_resume(subscription_id=subscription.pk))

    @extend_schema(request=None, responses=WebhookReplaySerializer, parameters=[_ID_PARAMETER])
    @action(detail=True, methods=["post"], url_path="replay-failed")
    def replay_failed(self, request, pk=None):
        subscription = self.get_object()
        ids = list(WebhookDelivery.objects.filter(subscription=subscription, status="failed")
                   .values_list("pk", flat=True))
        return Response({"queued": webhook_replay(delivery_ids=ids)})


class EventTypesSerializer(serializers.Serializer):
    """What a subscription may name: ``event_types`` (every published type; a pattern must
    match at least one) and ``event_type_styles``."""

    event_types = serializers.ListField(child=serializers.CharField())
    event_type_styles = serializers.ListField(child=serializers.CharField(), help_text=(
        "the values event_type_style takes: " + ", ".join(EventTypeStyle.values)))


class EventTypesView(APIView):
    """The event types a webhook subscription may ask for (derived from the state machines
    and the events the apps publish). Any API token may read it."""

    @extend_schema(operation_id="webhooks_event_types", tags=["webhooks"],
                   responses=EventTypesSerializer)
    def get(self, request):
        return Response(EventTypesSerializer({"event_types": event_types(),
                                              "event_type_styles": EventTypeStyle.values}).data)


_CURSOR_SALT = "oms.events.feed-cursor"


def _decode_cursor(value: str) -> tuple[int, int]:
    """Return ``(xid, event id)`` from a cursor this endpoint issued; ``ValidationError``
    (400, field ``after``) for anything else, so a mistyped cursor cannot read as "no news"."""
    try:
        xid, event_id = signing.loads(value, salt=_CURSOR_SALT)
        return int(xid), int(event_id)
    except (signing.BadSignature, TypeError, ValueError):
        raise ValidationError({"after": ["Not a cursor returned by this endpoint."]}) from None


def _encode_cursor(xid: int, event_id: int) -> str:
    """A signed, URL-safe cursor for ``(xid, event id)``."""
    return signing.dumps([xid, event_id], salt=_CURSOR_SALT, compress=False)


class EventFeedView(StrictQueryParamsMixin, APIView):
    """The committed events in order, for integrators who reconcile instead of receiving
    webhooks. Follow ``next`` (or pass the last ``cursor`` as ``after``) until ``events`` is
    empty; keep the last cursor and poll from it later. No event is skipped or repeated."""

    allowed_query_params = {"after", "limit"}
    requires_staff_token = True  # OpenAPI: 403 for other tokens
    # The page's shape (``{"events": [typed event, …], "next": cursor}``): the events are the
    # domain apps', so the URL configuration passes it (``as_view(serializer_class=…)``).
    serializer_class = None

    @extend_schema(operation_id="events_list", tags=["events"], parameters=[
        OpenApiParameter("after", OpenApiTypes.STR, description="The `cursor` of the last event seen."),
        OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": FEED_LIMIT_MAX},
                         description=f"Events per page, 1 to {FEED_LIMIT_MAX} (default 100)."),
    ])
    def get(self, request):
        require_all_locations(request)
        after = request.query_params.get("after")
        limit = request.query_params.get("limit", "100")
        if not (limit.isascii() and limit.isdigit() and len(limit) <= 4
                and 1 <= int(limit) <= FEED_LIMIT_MAX):
            raise ValidationError({"limit": [f"A whole number from 1 to {FEED_LIMIT_MAX}."]})
        events = event_feed(after=None if after is None else _decode_cursor(after), limit=int(limit))
        items = [{**event.envelope(), "cursor": _encode_cursor(event.xid, event.pk),
                  "created_at": event.created_at.isoformat()} for event in events]
        cursor = items[-1]["cursor"] if items else after
        return Response({"events": items, "next": cursor})
