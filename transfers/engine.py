"""The transfer engine: ``transfer_act`` runs one declared action (``transfers.actions``)
on one or many transfers through ``oms.actions.engine.act``. The API, the operator
screens, the admin actions and ``transfers_cancel_open_for_package`` all call it.

Scope: an action needs its ``side`` (source or destination) among the caller's stock
locations; a transfer whose that end is not one of them is not found (404), and
``transfer_allowed_actions`` leaves the action out.

Lock order: the transfers' packages (primary-key order), then the transfers (primary-key
order), then stock rows — the order the package actions use when they cancel a package's
transfers, so the two cannot deadlock. The package hooks (``transfers.signals``) run in
the same transaction.

Errors in outcomes (or raised by ``transfer_run``): ``ActionNotAllowed`` (409),
``ActorNotPermitted`` (403), ``StaleVersion`` (412), ``InsufficientStock`` and
``StockInconsistency`` (409); a transfer not found (in the caller's scope) is 404.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from django.db import transaction
from django.db.models import Prefetch, QuerySet

from oms.actions import engine
from oms.actions.actors import Actor
from oms.actions.declaration import Action
from oms.actions.engine import Entry, Machine, Outcome
from transfers.actions import ACTIONS
from transfers.events import EVENT_PREFIX, transfer_event_payload
from transfers.models import Transfer, TransferItem, TransferTransition, transfer_status_dict


def _lock(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("package", "source", "destination").prefetch_related(
        Prefetch("items", queryset=TransferItem.objects.select_related("sku").order_by("id")))


def _check(transfer: Transfer, action: Action, actor: Actor) -> None:
    """Transfers have no rule beyond the state and who may run an action."""


def _not_allowed(transfer: Transfer, action: Action, actor: Actor, detail: str | None = None,
                 code: str | None = None, **extra):
    return engine.not_allowed_error(transfer, action, status=transfer_status_dict(transfer.status),
                                    allowed=transfer_allowed_actions(transfer, actor_kind=actor.role),
                                    detail=detail, code=code, **extra)


TRANSFERS = Machine(
    model=Transfer, log_model=TransferTransition, log_fk="transfer", event_prefix=EVENT_PREFIX,
    actions=ACTIONS, event_payload=transfer_event_payload, lock=_lock, check=_check,
    not_allowed=_not_allowed)


def transfer_scope(action: str, location_ids: Collection[int] | None) -> QuerySet[Transfer] | None:
    """The transfers a caller working at ``location_ids`` (None: every location) may run
    ``action`` on: those whose ``side`` end is one of them. None means all."""
    if location_ids is None:
        return None
    return Transfer.objects.filter(**{f"{ACTIONS[action].side}_id__in": list(location_ids)})


def _lock_packages(scope: QuerySet[Transfer], keys: list, key: str) -> None:
    package_model = Transfer._meta.get_field("package").related_model
    package_ids = scope.filter(**{f"{key}__in": keys}).values("package_id")
    list(package_model.objects.select_for_update().filter(pk__in=package_ids)
         .order_by("pk").values_list("pk", flat=True))


def transfer_act(action: str, entries: Sequence[Entry], *, actor: Actor,
                 location_ids: Collection[int] | None = None, key: str = "pk") -> list[Outcome]:
    """Run ``action`` on the transfers of ``entries`` (keys: ids, or numbers with
    ``key="number"``) in one transaction. ``location_ids``: the caller's stock locations
    (None: every location); a transfer whose end the action needs (``Action.side``) is not
    one of them is not found. Locks the transfers' packages first. One ``Outcome`` per
    entry, in order; the transfer of a done one comes saved, with package, source,
    destination and items. Raises ValueError for an unknown action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    scope = transfer_scope(action, location_ids)
    with transaction.atomic():
        _lock_packages(scope if scope is not None else Transfer.objects.all(),
                       [entry.key for entry in entries], key)
        return engine.act(TRANSFERS, action, entries, actor=actor, scope=scope, key=key)


def transfer_run(action: str, *, actor: Actor, transfer_id: int | None = None, number: str | None = None,
                 location_ids: Collection[int] | None = None, versions: Collection[int] | None = None,
                 **inputs) -> Transfer:
    """``transfer_act`` on one transfer (by ``transfer_id`` or ``number``); return it saved.
    Raises ``Transfer.DoesNotExist`` (unknown, or its needed end outside ``location_ids``)
    or the refusal (nothing written)."""
    if (transfer_id is None) == (number is None):
        raise TypeError("give exactly one of transfer_id and number")
    key, value = ("pk", transfer_id) if number is None else ("number", number)
    (outcome,) = transfer_act(action, [Entry(value, dict(inputs), versions)], actor=actor,
                              location_ids=location_ids, key=key)
    if outcome.obj is None:
        raise Transfer.DoesNotExist("Transfer matching query does not exist.")
    if outcome.error is not None:
        raise outcome.error
    return outcome.obj


def transfer_allowed_actions(transfer: Transfer, *, actor_kind: str | None = None,
                             location_ids: Collection[int] | None = None) -> list[str]:
    """The actions runnable now on ``transfer``, in declaration order: allowed from its
    state, open to ``actor_kind`` (when given) and, with ``location_ids`` (None: every
    location), whose needed end (``Action.side``) is one of them. No query."""
    if location_ids is None:
        return engine.allowed_actions(TRANSFERS, transfer, actor_kind=actor_kind)
    return engine.allowed_actions(
        TRANSFERS, transfer, actor_kind=actor_kind,
        check=lambda action: getattr(transfer, f"{action.side}_id") in location_ids)
