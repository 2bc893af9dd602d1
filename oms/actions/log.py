"""What every state machine shares: the transition-log row and the "record" step of an
action (save the row, bump its version, log, publish), used by packages and transfers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import models
from django.utils import timezone

from oms.actions.actors import Actor
from oms.events.outbox import event_publish
from oms.events.types import transitioned_event_type


class TransitionLog(models.Model):
    """Abstract transition-log row: who ran which action, why, with what input, when.

    Subclasses add the foreign key to their entity and ``from_status`` (null for the
    ``create`` row) / ``to_status`` typed like the entity's status field.
    """

    action = models.CharField(max_length=50)
    actor = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["id"]


def transition_record(obj, *, log_model: type[TransitionLog], log_fk: str, action: str,
                      from_status, actor: Actor, event_prefix: str,
                      event_payload: Callable[..., dict], fields: Iterable[str] = (),
                      reason: str = "", payload: dict | None = None,
                      created_event: str | None = None):
    """Save ``obj`` after an action and write its log row and outbox event.

    ``from_status`` None means the object was just created: no save, a ``create`` log row
    and a ``created_event`` event (default ``<event_prefix>.created``); otherwise
    ``version`` +1, ``status_changed_at`` when the state changed,
    ``save(update_fields=status, version, updated_at, *fields)`` and a
    ``<event_prefix>.status.transitioned`` event. ``event_payload(obj, action=,
    from_status=, actor=, reason=)`` builds the event body after the save. Returns ``obj``.
    """
    now = timezone.now()
    if from_status is not None:
        obj.version += 1
        update_fields = {"status", "version", "updated_at", *fields}
        if obj.status != from_status:
            obj.status_changed_at = now
            update_fields.add("status_changed_at")
        obj.save(update_fields=sorted(update_fields))
    log_model.objects.create(
        **{log_fk: obj}, from_status=from_status, to_status=obj.status, action=action,
        actor=str(actor)[:150], actor_user_id=actor.user_id, reason=reason[:255],
        payload=payload or {}, created_at=now,
    )
    created = from_status is None
    event_publish(
        type=(created_event or f"{event_prefix}.created") if created
        else transitioned_event_type(event_prefix),
        aggregate_type=event_prefix, aggregate_id=obj.pk,
        payload=event_payload(obj, action=action, from_status=from_status, actor=actor, reason=reason),
    )
    return obj
