"""One action on many packages, answered per package.

Used by the bulk API (``POST /api/v1/packages/actions/{action}/``). Nothing here decides
whether an action is allowed: the action's service does, under the package's row lock.

Two paths, both answering each package exactly as the single-package service would:

* actions without stock effects (``packages.services.BULK_TRANSITION_ACTIONS``: ship,
  start_preparing, …) run set-based, a chunk of packages at a time
  (``package_bulk_chunk_outcomes``, at most ``BULK_CHUNK_SIZE`` per chunk, one transaction
  per chunk);
* the others run package by package through their service, each package in its own
  transaction (``package_bulk_outcome``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from django.db import DatabaseError
from django.db.models import QuerySet

from oms.actors import Actor
from oms.exceptions import ActionNotAllowed, OmsError
from packages.models import Package, status_dict
from packages.services import ACTION_SERVICES, BULK_TRANSITION_ACTIONS, package_bulk_transition

logger = logging.getLogger(__name__)

__all__ = ["BULK_CHUNK_SIZE", "BULK_TRANSITION_ACTIONS", "package_bulk_chunk_outcomes",
           "package_bulk_outcome", "package_bulk_summary"]

# Packages per transaction on the set-based path: their row locks are held until the
# chunk commits (~0.2 s for 250 ships on the 2-core benchmark machine under load), and a chunk
# is written or not as a whole.
BULK_CHUNK_SIZE = 250


def _outcome(number: str, result: Package | OmsError | None) -> dict:
    """The per-package answer for a service's result: the package, its error, or None."""
    outcome = {"number": number, "result": "not_found", "status": None, "version": None,
               "allowed_actions": [], "error": None}
    if isinstance(result, ActionNotAllowed):
        outcome.update(result="not_allowed", status=result.extra.get("current_status"),
                       allowed_actions=list(result.extra.get("allowed_actions", [])),
                       error=result.as_dict())
    elif isinstance(result, OmsError):
        outcome.update(result="failed", error=result.as_dict())
    elif result is not None:
        outcome.update(result="done", status=status_dict(result.status), version=result.version)
    return outcome


def package_bulk_outcome(*, action: str, number: str, kwargs: dict, actor: Actor,
                         packages: QuerySet[Package]) -> dict:
    """Run ``action`` on package ``number`` via ``ACTION_SERVICES[action]`` and report the outcome.

    ``packages`` is the queryset the caller may act on (e.g. a token's stock locations);
    a package outside it counts as not found. The service runs its own transaction (a
    savepoint when the caller has one open), so a refused package changes nothing.

    Returns a JSON-safe dict with every key present::

        {"number": str, "result": "done" | "not_allowed" | "not_found" | "failed",
         "status": {"code", "slug", "label"} | None,   # after the action / current status
         "version": int | None, "allowed_actions": [str], "error": {"code", "detail", …} | None}

    Raises nothing for domain errors (they become ``not_allowed`` / ``failed``); other
    exceptions (database down, bugs) propagate.
    """
    package_id = packages.filter(number=number).values_list("pk", flat=True).first()
    if package_id is None:
        return _outcome(number, None)
    try:
        package = ACTION_SERVICES[action](package_id=package_id, actor=actor, **kwargs)
    except OmsError as exc:
        return _outcome(number, exc)
    return _outcome(number, package)


def package_bulk_chunk_outcomes(*, action: str, entries: Sequence[tuple[str, Mapping]], actor: Actor,
                                packages: QuerySet[Package]) -> list[dict]:
    """Run ``action`` (one of ``BULK_TRANSITION_ACTIONS``) on a chunk of packages, set-based.

    ``entries``: ``(number, the action's keyword arguments)``, numbers distinct. Call it
    inside the chunk's transaction (``transaction.atomic()``), which the caller commits:
    the whole chunk is one transaction. Returns one outcome per entry, in order, shaped as
    ``package_bulk_outcome``'s, and the same outcome that function would give.

    A database error in the set-based statements (a deadlock victim, a lock timeout, a
    constraint the database refuses) rolls the whole set-based attempt back (it runs in a
    savepoint: no package, log row, event of it stays written) and the chunk then runs
    package by package through ``package_bulk_outcome``, each in its own savepoint, exactly
    as the per-package path does; an error there propagates as it does on that path.
    """
    try:
        results = package_bulk_transition(action=action, entries=entries, actor=actor, packages=packages)
    except DatabaseError:
        logger.warning("bulk %s: set-based chunk of %d failed; running it package by package",
                       action, len(entries), exc_info=True)
        return [package_bulk_outcome(action=action, number=number, kwargs=dict(kwargs), actor=actor,
                                     packages=packages)
                for number, kwargs in entries]
    return [_outcome(number, result) for (number, _), result in zip(entries, results, strict=True)]


def package_bulk_summary(outcomes: list[dict]) -> dict[str, int]:
    """Return ``{"done": n, "not_allowed": n, "not_found": n, "failed": n}`` for ``outcomes``."""
    summary = dict.fromkeys(("done", "not_allowed", "not_found", "failed"), 0)
    for outcome in outcomes:
        summary[outcome["result"]] += 1
    return summary
