"""Read a model's state machine from its django-fsm transitions (for the published graph).

The API's ``/state-machines/…`` endpoints are built from this, so the graph they publish is
the one the code enforces: nothing here is typed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import django_fsm as fsm


@dataclass
class ActionEdges:
    """Every edge of one transition method: ``edges`` is ``[(source, target), …]`` (a
    data-only transition has ``target == source``); ``conditions`` names its guards."""

    name: str
    edges: list[tuple] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list:
        return sorted({source for source, _ in self.edges}, key=str)

    @property
    def targets(self) -> list:
        return sorted({target for _, target in self.edges}, key=str)


def fsm_actions(model_class, *, field_name: str = "status", states: Sequence,
                order: Sequence[str] = ()) -> list[ActionEdges]:
    """Return the transitions of ``model_class.<field_name>`` grouped by method name.

    ``states`` lists every state value (expands the ``"*"``/``"+"`` wildcard sources);
    targets come from the transition: a plain value, ``None`` (the state does not change),
    or the declared allowed states of ``RETURN_VALUE``/``GET_STATE``. Actions follow
    ``order`` (names not in it last, alphabetically).
    """
    by_name: dict[str, ActionEdges] = {}
    transitions = getattr(model_class(), f"get_all_{field_name}_transitions")()
    for transition in transitions:
        action = by_name.setdefault(transition.name, ActionEdges(transition.name))
        if transition.source == "*":
            sources = list(states)
        elif transition.source == "+":
            sources = [s for s in states if transition.target is None or s != transition.target]
        else:
            sources = [transition.source]
        target = transition.target
        for source in sources:
            if target is None:
                targets = [source]
            elif isinstance(target, fsm.State):
                targets = list(target.allowed_states)
            else:
                targets = [target]
            for to in targets:
                if (source, to) not in action.edges:
                    action.edges.append((source, to))
        for condition in transition.conditions:
            name = getattr(condition, "__name__", str(condition))
            if name not in action.conditions:
                action.conditions.append(name)
    rank = {name: i for i, name in enumerate(order)}
    return sorted(by_name.values(), key=lambda a: (rank.get(a.name, len(rank)), a.name))
