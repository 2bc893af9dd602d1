"""The per-package answers of a bulk action (``POST /api/v1/packages/actions/{action}/``).

The packages run through the package engine a chunk at a time (``BULK_CHUNK_SIZE``, one
transaction per chunk); nothing here decides whether an action is allowed.
"""

from __future__ import annotations

from oms.actions.engine import Outcome
from oms.actions.errors import ActionNotAllowed
from packages.models import status_dict

# Packages per transaction: their row locks are held until the chunk commits, and a chunk
# is written or not as a whole.
BULK_CHUNK_SIZE = 250


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
