"""A bulk action on packages: the API's (``POST /api/v1/packages/actions/{action}/``) and the
package list's. Both run a chunk with ``package_bulk_chunk`` and answer per package with
``package_bulk_outcome``.

The packages run through the package engine a chunk at a time (``BULK_CHUNK_SIZE``, one
transaction per chunk); nothing here decides whether an action is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import QuerySet

from oms.actions.actors import Actor
from oms.actions.engine import Entry, Outcome
from oms.actions.errors import ActionNotAllowed
from packages.engine import package_act
from packages.models import Package, status_dict

# Packages per transaction: their row locks are held until the chunk commits, and a chunk
# is written or not as a whole.
BULK_CHUNK_SIZE = 250
# Packages per bulk request (the API's body, the package list's selection).
BULK_MAX = 1000


def package_bulk_chunk(action: str, entries: Sequence[dict], *, actor: Actor,
                       packages: QuerySet[Package], screen: bool = False) -> list[dict]:
    """Run ``action`` through the package engine on ``entries``, in the caller's transaction;
    return one ``package_bulk_outcome`` per entry, in order.

    Each entry: ``{"number": str, "version": int (optional: act only if the package is still
    at that version, else ``failed`` with code ``version_mismatch``), **the action's inputs}``.
    ``packages``: the packages the caller may act on (others are ``not_found``).
    ``screen``: errors as a screen keeps them (``OmsError.as_screen_dict``), not the API's.
    """
    outcomes = package_act(action, [
        Entry(entry["number"], {k: v for k, v in entry.items() if k not in ("number", "version")},
              None if entry.get("version") is None else {entry["version"]})
        for entry in entries], actor=actor, packages=packages, key="number")
    answers = [package_bulk_outcome(outcome) for outcome in outcomes]
    if screen:
        for answer, outcome in zip(answers, outcomes, strict=True):
            if outcome.error is not None:
                answer["error"] = outcome.error.as_screen_dict()
    return answers


def package_bulk_run(action: str, entries: Sequence[dict], *, actor: Actor,
                     packages: QuerySet[Package], screen: bool = False) -> list[dict]:
    """``package_bulk_chunk`` over ``entries``, ``BULK_CHUNK_SIZE`` at a time, one transaction
    per chunk (chunks before a failing one stay committed); the outcomes in entry order."""
    results: list[dict] = []
    for start in range(0, len(entries), BULK_CHUNK_SIZE):
        with transaction.atomic():
            results.extend(package_bulk_chunk(action, entries[start:start + BULK_CHUNK_SIZE],
                                              actor=actor, packages=packages, screen=screen))
    return results


def package_bulk_outcome(outcome: Outcome) -> dict:
    """The JSON-safe answer for one package, every key present::

        {"number": str, "result": "done" | "not_allowed" | "not_found" | "failed",
         "status": {"code", "slug", "label"} | None,   # after the action / current status
         "version": int | None, "allowed_actions": [str], "error": {"code", "detail", …} | None}
    """
    answer = {"number": outcome.key, "result": "not_found", "status": None, "version": None,
              "allowed_actions": [], "error": None}
    error = outcome.error
    if isinstance(error, ActionNotAllowed):
        answer.update(result="not_allowed", status=error.extra.get("current_status"),
                      allowed_actions=list(error.extra.get("allowed_actions", [])),
                      error=error.as_dict())
    elif error is not None:
        answer.update(result="failed", error=error.as_dict())
    elif outcome.obj is not None:
        answer.update(result="done", status=status_dict(outcome.obj.status), version=outcome.obj.version)
    return answer


def package_bulk_summary(outcomes: list[dict]) -> dict[str, int]:
    """Return ``{"done": n, "not_allowed": n, "not_found": n, "failed": n}`` for ``outcomes``."""
    summary = dict.fromkeys(("done", "not_allowed", "not_found", "failed"), 0)
    for outcome in outcomes:
        summary[outcome["result"]] += 1
    return summary
