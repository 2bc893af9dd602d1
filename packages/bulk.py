"""One action on many packages: each package in its own transaction, through its service.

Used by the bulk API (``POST /api/v1/packages/actions/{action}/``). Nothing here decides
whether an action is allowed: the action's service does, under the package's row lock.
"""

from __future__ import annotations

from django.db.models import QuerySet

from oms.actors import Actor
from oms.exceptions import ActionNotAllowed, OmsError
from packages.models import Package, status_dict
from packages.services import ACTION_SERVICES


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
    outcome = {"number": number, "result": "not_found", "status": None, "version": None,
               "allowed_actions": [], "error": None}
    package_id = packages.filter(number=number).values_list("pk", flat=True).first()
    if package_id is None:
        return outcome
    try:
        package = ACTION_SERVICES[action](package_id=package_id, actor=actor, **kwargs)
    except ActionNotAllowed as exc:
        outcome.update(result="not_allowed", status=exc.extra.get("current_status"),
                       allowed_actions=list(exc.extra.get("allowed_actions", [])),
                       error=exc.as_dict())
        return outcome
    except OmsError as exc:
        outcome.update(result="failed", error=exc.as_dict())
        return outcome
    outcome.update(result="done", status=status_dict(package.status), version=package.version)
    return outcome


def package_bulk_summary(outcomes: list[dict]) -> dict[str, int]:
    """Return ``{"done": n, "not_allowed": n, "not_found": n, "failed": n}`` for ``outcomes``."""
    summary = dict.fromkeys(("done", "not_allowed", "not_found", "failed"), 0)
    for outcome in outcomes:
        summary[outcome["result"]] += 1
    return summary
