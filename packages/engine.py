"""The package engine: ``package_act`` runs one declared action (``packages.actions``) on
one or many packages through ``oms.actions.engine.act``. Operator screens, admin actions,
the single and the bulk API, transfer hooks and the automatic re-check all call it.

Errors in outcomes (or raised by ``package_run``): ``ActionNotAllowed`` (409; its
subclass ``OnHold``, code ``blocked``, for a blocked package),
``ActorNotPermitted`` (403), ``StaleVersion`` (412), ``InsufficientStock`` (409),
``InvalidInput`` (400); a package not found (in the caller's scope) is 404.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import django_fsm as fsm
from django.db.models import Prefetch, QuerySet

from oms.actions import engine
from oms.actions.actors import Actor
from oms.actions.declaration import Action
from oms.actions.engine import Entry, Machine, Outcome
from packages.actions import ACTIONS
from packages.events import EVENT_PREFIX, package_event_payload, package_hold
from packages.models import Package, PackageItem, PackageTransition, Status, status_dict

# The states of a package that may have a replacement (report_missing / report_defective).
_REPLACED_STATES = frozenset({Status.CANCELED, Status.DEFECTIVE_PRODUCT_FOUND})


def package_items_prefetch() -> Prefetch:
    """The package's items with their SKU, in id order (what events and answers show)."""
    return Prefetch("items", queryset=PackageItem.objects.select_related("sku").order_by("id"))


def _lock(queryset: QuerySet) -> QuerySet:
    """The caller's scope with what the engine reads: brand, location, items with SKUs (the
    scope's own prefetches are dropped)."""
    return queryset.select_related("brand", "location").prefetch_related(None).prefetch_related(
        package_items_prefetch())


def _enabled(package: Package, action: Action) -> bool:
    return package.brand.is_action_enabled(action.name)


def _check(package: Package, action: Action, actor: Actor) -> None:
    if not _enabled(package, action):
        raise _not_allowed(package, action, actor,
                           f"'{action.name}' is switched off for brand {package.brand.slug}",
                           code="action_disabled")
    if package.status not in _REPLACED_STATES:
        Package.replacement.related.set_cached_value(package, None)


def _not_allowed(package: Package, action: Action, actor: Actor, detail: str | None = None,
                 code: str | None = None, **extra):
    if detail is None and fsm.can_proceed(getattr(package, action.name), check_conditions=False):
        needed = {"ship": "a ship", "mark_ready_for_pickup": "a click-and-collect"}.get(
            action.name, "another")
        detail = f"'{action.name}' needs {needed} package; this one is {package.delivery_type}"
        code = "delivery_type_mismatch"
    return engine.not_allowed_error(package, action, status=status_dict(package.status),
                                    allowed=package_allowed_actions(package, actor_kind=actor.role),
                                    detail=detail, code=code, **extra)


PACKAGES = Machine(
    model=Package, log_model=PackageTransition, log_fk="package", event_prefix=EVENT_PREFIX,
    actions=ACTIONS, event_payload=package_event_payload, lock=_lock, check=_check,
    not_allowed=_not_allowed, enabled=_enabled, held=package_hold)


def package_act(action: str, entries: Sequence[Entry], *, actor: Actor,
                packages: QuerySet[Package] | None = None, key: str = "pk",
                skip_locked: bool = False) -> list[Outcome]:
    """Run ``action`` on the packages of ``entries`` (keys: ids, or numbers with
    ``key="number"``) in one transaction; ``packages`` bounds what may be acted on (e.g. a
    token's or an operator's stock locations). One ``Outcome`` per entry, in order; the
    package of a done one comes saved, with brand, location and items (with SKUs)."""
    return engine.act(PACKAGES, action, entries, actor=actor, scope=packages, key=key,
                      skip_locked=skip_locked)


def package_run(action: str, *, actor: Actor, package_id: int | None = None, number: str | None = None,
                packages: QuerySet[Package] | None = None, versions: Collection[int] | None = None,
                **inputs) -> Package:
    """``package_act`` on one package (by ``package_id`` or ``number``); return it saved.
    Raises ``Package.DoesNotExist`` or the refusal."""
    if (package_id is None) == (number is None):
        raise TypeError("give exactly one of package_id and number")
    return engine.act_one(PACKAGES, action, package_id if number is None else number, actor=actor,
                          inputs=inputs, versions=versions, scope=packages,
                          key_field="pk" if number is None else "number")


def package_allowed_actions(package: Package, *, actor_kind: str | None = None) -> list[str]:
    """The actions runnable now on ``package`` (state, delivery type, hold, brand switch,
    and ``actor_kind`` when given), in declaration order: only ``unblock`` while it is
    blocked. Reads ``package.brand``."""
    return engine.allowed_actions(PACKAGES, package, actor_kind=actor_kind)
