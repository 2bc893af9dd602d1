"""The one engine that runs a declared action on rows of an aggregate.

``act(machine, name, entries, actor=…)`` is the only way a package or a transfer changes
state: operator screens, admin actions, the single and the bulk API and the automatic
re-check all call it, and a single row is a batch of one. In one transaction it:

1. locks the rows in primary-key order (one ``SELECT … FOR UPDATE OF`` with the joins the
   aggregate asks for; ``skip_locked`` leaves rows another transaction holds);
2. for each entry, in the order given: checks its ``If-Match`` versions, who may run the
   action, the row's hold (``Machine.held``: a held row takes only an action that
   releases the hold), the aggregate's own rules (``Machine.check``) and the source
   state (an action whose transition has no target leaves it unchanged), then runs
   the action's ``run`` (input checks, stock effect; in a savepoint when it has a stock
   effect) and the django-fsm transition on the instance;
3. writes what moved set-based: one ``UPDATE`` of the rows (``oms.bulk_sql.rows_update``:
   status, ``version`` + 1, ``updated_at``, ``status_changed_at`` when the state changed,
   the action's ``writes``), one ``bulk_create`` of log rows, one insert of outbox events
   (type ``Action.event``, default ``<prefix>.status.transitioned``; handed on after commit);
4. runs the follow-ups the actions asked for (``Step.after``, ``Step.then``).

A refused row changes nothing and gets its error in its ``Outcome``; other rows go on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import django_fsm as fsm
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from oms.actions.actors import Actor, system_actor
from oms.actions.declaration import Action, Step
from oms.actions.errors import ActionNotAllowed, InvalidInput, OmsError, OnHold
from oms.bulk_sql import rows_update
from oms.events.outbox import events_publish_many
from oms.events.types import transitioned_event_type
from oms.translation import untranslated


class ActorNotPermitted(OmsError):
    """The actor's kind may not run this action (state table "who" column). HTTP 403."""

    code = "actor_not_permitted"
    http_status = 403


class StaleVersion(OmsError):
    """The row is no longer at the version the caller acted on (``If-Match``). HTTP 412.

    ``extra["current_version"]`` is the row's version now.
    """

    code = "version_mismatch"
    http_status = 412


@dataclass(frozen=True)
class Machine:
    """One aggregate's state machine, as the engine needs it.

    Attributes:
        model / log_model: the aggregate's model and its transition-log model.
        log_fk: the log model's foreign key to the aggregate (``"package"``).
        event_prefix: events are ``<prefix>.status.transitioned`` (or the action's
            ``event``) about ``<prefix>`` rows.
        actions: the declarations, ``{name: Action}``.
        event_payload: ``event_payload(obj, action=, from_status=, actor=, reason=) -> dict``.
        lock: adds the joins and prefetches to the locking queryset.
        check: ``check(obj, action, actor)`` raises the aggregate's own refusals before
            the source state is checked.
        enabled: ``enabled(obj, action)`` is False when the action is switched off for
            this row (e.g. by its brand): not offered (``check`` refuses it).
        not_allowed: ``not_allowed(obj, action, actor, detail=None, code=None, **extra)
            -> ActionNotAllowed`` (``extra`` goes into the error's body).
        held: ``held(obj) -> dict | None``: the row's hold as JSON-safe fields (e.g.
            ``{"reason": …, "blocked_at": …, "blocked_by": …}``, put into the 409 ``blocked``),
            None when it is not held. A held row accepts only actions with
            ``releases_hold``; they are refused on a row not held.
    """

    model: type[models.Model]
    log_model: type[models.Model]
    log_fk: str
    event_prefix: str
    actions: dict[str, Action]
    event_payload: Callable[..., dict]
    lock: Callable[[models.QuerySet], models.QuerySet]
    check: Callable[[Any, Action, Actor], None]
    not_allowed: Callable[..., OmsError]
    enabled: Callable[[Any, Action], bool] = lambda obj, action: True
    held: Callable[[Any], dict | None] = lambda obj: None


@dataclass
class Entry:
    """One row to act on: ``key`` (its pk, or the field ``act`` is told), the action's
    ``inputs`` and, for ``If-Match``, the ``versions`` it may be at (None: any)."""

    key: Any
    inputs: dict = field(default_factory=dict)
    versions: Collection[int] | None = None


@dataclass
class Outcome:
    """What happened to one entry: ``obj`` is the row (None when it was not found, in the
    caller's scope); ``error`` the refusal (None when the action ran)."""

    key: Any
    obj: Any = None
    error: OmsError | None = None

    @property
    def done(self) -> bool:
        return self.obj is not None and self.error is None


def act(machine: Machine, name: str, entries: Sequence[Entry], *, actor: Actor,
        scope: models.QuerySet | None = None, key: str = "pk",
        skip_locked: bool = False) -> list[Outcome]:
    """Run action ``name`` on every entry in one transaction (see the module doc).

    ``scope``: the rows the caller may act on (default all); a row outside it is not found.
    ``key``: the unique field the entries' keys are (``"pk"``, ``"number"``).
    Returns one ``Outcome`` per entry, in order. Raises ValueError for an unknown action or
    a key listed twice; an ``OmsError`` raised by a follow-up, or a ``DatabaseError``, rolls
    the whole call back and propagates.
    """
    action = machine.actions.get(name)
    if action is None:
        raise ValueError(f"unknown action {name!r}")
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys):
        raise ValueError("a row is listed twice")
    # No savepoint of its own inside a caller's transaction: an error that leaves here rolls
    # the caller's transaction (or its savepoint) back; refusals do not leave here.
    with transaction.atomic(savepoint=False):
        queryset = machine.lock(scope if scope is not None else machine.model.objects.all())
        rows = {getattr(row, key): row for row in queryset.select_for_update(
            of=("self",), skip_locked=skip_locked).filter(**{f"{key}__in": keys}).order_by("pk")}
        outcomes, moved = [], []
        batch = {}  # what run gets besides the entry's inputs
        if action.ledger is not None:
            batch["ledger"] = action.ledger(list(rows.values()))
        for entry in entries:
            obj = rows.get(entry.key)
            outcome = Outcome(entry.key, obj)
            outcomes.append(outcome)
            if obj is None:
                continue
            from_status = obj.status
            try:
                with (transaction.atomic() if action.stock and action.ledger is None
                      else contextlib.nullcontext()):
                    step = _run(machine, action, obj, entry, actor, batch)
            except OmsError as exc:
                outcome.error = exc
                continue
            moved.append((outcome, from_status, step))
        if "ledger" in batch:
            batch["ledger"].save()
        _write(machine, action, moved, actor)
        for outcome, _, step in moved:
            if step.after is not None:
                step.after(outcome.obj)
            if step.then is not None:
                then_name, inputs = step.then
                (follow,) = act(machine, then_name, [Entry(outcome.obj.pk, inputs)],
                                actor=system_actor())
                if follow.error is not None:
                    raise follow.error
                outcome.obj = follow.obj
    return outcomes


def _run(machine: Machine, action: Action, obj, entry: Entry, actor: Actor, batch: dict) -> Step:
    """Check and run ``action`` on the locked ``obj``; return its ``Step``. Raises the refusal."""
    if entry.versions is not None and obj.version not in entry.versions:
        raise StaleVersion(f"The {machine.event_prefix} is at version {obj.version}",
                           current_version=obj.version)
    if not action.may_run(actor.role):
        raise ActorNotPermitted(f"'{action.name}' ({untranslated(action.label)}) may be run only by: "
                                f"{', '.join(action.who_names)}", action=action.name)
    _check_hold(machine, action, obj, actor)
    machine.check(obj, action, actor)
    transition = getattr(obj, action.name)
    if not fsm.can_proceed(transition):
        raise machine.not_allowed(obj, action, actor)
    try:
        step = (action.run(obj, actor, **entry.inputs, **batch) if action.run else None) or Step()
    except ActionNotAllowed as exc:
        if "current_status" in exc.extra:
            raise
        raise machine.not_allowed(obj, action, actor, detail=exc.detail, code=exc.code) from None
    transition(**step.transition)
    _check_lengths(obj, action)
    return step


def _check_hold(machine: Machine, action: Action, obj, actor: Actor) -> None:
    """Refuse any action but a release on a held row (``OnHold``, 409 ``blocked``) and a
    release on a row not held (409 ``not_blocked``)."""
    hold = machine.held(obj)
    if hold is not None and not action.releases_hold:
        error = machine.not_allowed(obj, action, actor, **hold, detail=(
            f"The {obj._meta.verbose_name} is blocked"
            + (f": {hold['reason']}" if hold.get("reason") else "")
            + f"; '{action.name}' is refused until it is released"))
        raise OnHold(error.detail, **error.extra)
    if hold is None and action.releases_hold:
        raise machine.not_allowed(obj, action, actor, code="not_blocked",
                                  detail=f"The {obj._meta.verbose_name} is not blocked")


def _check_lengths(obj, action: Action) -> None:
    """Refuse (``InvalidInput``) a text the action wrote that its column cannot hold: the
    set-based write would otherwise cut it to the column's length on PostgreSQL."""
    for name in action.writes:
        field = obj._meta.get_field(name)
        value = getattr(obj, field.attname)
        if field.max_length is not None and isinstance(value, str) and len(value) > field.max_length:
            raise InvalidInput(gettext_lazy("%(field)s is longer than %(max)s characters"),
                               params={"field": name, "max": field.max_length}, field=name)


def _write(machine: Machine, action: Action, moved: list, actor: Actor) -> None:
    """Save the moved rows, their log rows and events, set-based."""
    if not moved:
        return
    now = timezone.now()
    for outcome, from_status, _ in moved:
        obj = outcome.obj
        obj.version += 1
        obj.updated_at = now
        if obj.status != from_status:
            obj.status_changed_at = now
    rows_update([outcome.obj for outcome, _, _ in moved],
                ["status", "version", "updated_at", "status_changed_at", *action.writes])
    machine.log_model.objects.bulk_create([
        machine.log_model(**{machine.log_fk: outcome.obj}, from_status=from_status,
                          to_status=outcome.obj.status, action=action.name,
                          actor=str(actor)[:150], actor_user_id=actor.user_id,
                          reason=step.reason[:255], payload=step.payload, created_at=now)
        for outcome, from_status, step in moved])
    events_publish_many([
        (action.event or transitioned_event_type(machine.event_prefix), machine.event_prefix,
         outcome.obj.pk,
         machine.event_payload(outcome.obj, action=action.name, from_status=from_status,
                               actor=actor, reason=step.reason))
        for outcome, from_status, step in moved])


def act_one(machine: Machine, name: str, key, *, actor: Actor, inputs: dict | None = None,
            versions: Collection[int] | None = None, scope: models.QuerySet | None = None,
            key_field: str = "pk"):
    """``act`` on one row; return the saved row. Raises ``<model>.DoesNotExist`` when the
    row is not found (in ``scope``) and the refusal's ``OmsError`` (nothing written)."""
    (outcome,) = act(machine, name, [Entry(key, dict(inputs or {}), versions)], actor=actor,
                     scope=scope, key=key_field)
    if outcome.obj is None:
        raise machine.model.DoesNotExist(f"{machine.model.__name__} matching query does not exist.")
    if outcome.error is not None:
        raise outcome.error
    return outcome.obj


def allowed_actions(machine: Machine, obj, *, actor_kind: str | None = None,
                    check: Callable[[Action], bool] | None = None) -> list[str]:
    """The actions runnable now on ``obj``, in declaration order: allowed from its state
    (and the transitions' conditions) and by its hold (a held row: only the releases; else
    none of them), switched on (``Machine.enabled``), open to ``actor_kind`` (an actor's
    ``role``, when given)
    and to ``check`` (when given, e.g. a token's scope side)."""
    available = {t.name for t in obj.get_available_status_transitions()}
    held = machine.held(obj) is not None
    names = []
    for name, action in machine.actions.items():
        if name not in available or action.releases_hold is not held:
            continue
        if actor_kind is not None and not action.may_run(actor_kind):
            continue
        if check is not None and not check(action):
            continue
        if not machine.enabled(obj, action):
            continue
        names.append(name)
    return names


def not_allowed_error(obj, action: Action, *, status: dict, allowed: list[str],
                      detail: str | None = None, code: str | None = None,
                      **extra: object) -> ActionNotAllowed:
    """The 409 of an action the row's state (or a rule, or its hold) does not allow now;
    ``extra`` goes into its body (in English whatever language is active: API text)."""
    with translation.override(None):
        state = obj.get_status_display()
    return ActionNotAllowed(
        detail or f"'{action.name}' is not allowed while the {obj._meta.model_name} is {state}",
        code=code, action=action.name, current_status=status, allowed_actions=allowed, **extra)
