"""The public event types: a registry the domain apps fill when they start.

``oms`` imports no domain app, so each app that publishes events registers their types in
its ``AppConfig.ready`` (``event_types_register``); a state machine registers its
``<prefix>.status.transitioned`` and one ``<prefix>.status.<state slug>`` per state
(``status_event_types``). Webhook subscriptions are checked against this list.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

_registered: set[str] = set()

# "*", or dotted lower-case words, the last of which may be "*" ("package.*").
EVENT_PATTERN_RE = re.compile(r"\*|[a-z_]+(\.[a-z_]+)*(\.\*)?")


def status_event_type(prefix: str, slug: str) -> str:
    """The per-state type of a transition into state ``slug``: ``"package.status.shipped"``."""
    return f"{prefix}.status.{slug}"


def transitioned_event_type(prefix: str) -> str:
    """The type every transition of ``prefix`` rows is published as:
    ``"package.status.transitioned"``."""
    return f"{prefix}.status.transitioned"


def status_event_types(prefix: str, slugs: Iterable[str]) -> list[str]:
    """The types a state machine's transitions can be delivered as: ``<prefix>.status.transitioned``
    and ``<prefix>.status.<slug>`` for every state slug."""
    return [transitioned_event_type(prefix), *(status_event_type(prefix, slug) for slug in slugs)]


def event_types_register(types: Iterable[str]) -> None:
    """Add public event types (idempotent; called from the apps' ``ready``)."""
    _registered.update(types)


def event_types() -> list[str]:
    """Every registered public event type, sorted."""
    return sorted(_registered)


def event_pattern_is_known(pattern: str) -> bool:
    """True if ``pattern`` is an event type or a pattern (``"package.*"``, ``"*"``; see
    ``EVENT_PATTERN_RE``) that matches at least one registered event type."""
    return bool(EVENT_PATTERN_RE.fullmatch(pattern)) and any(
        fnmatch.fnmatchcase(event_type, pattern) for event_type in _registered)
