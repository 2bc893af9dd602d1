"""How an action is declared: once, next to its django-fsm transition's model.

An aggregate (packages, transfers) lists its actions as ``Action`` objects; the engine
(``oms.actions.engine``), the API views, the operator forms, the admin actions,
``allowed_actions``, the published state-machine graph and the docs table all read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers

from oms.actions.inputs import StrictInputSerializer

# Actor.role -> the letters of the "who" column of docs/state-machine.md it satisfies: a
# staff user is an operator too.
ROLE_LETTERS = {"user": "O", "staff": "OT", "api": "A", "system": "S"}
WHO_NAMES = {"O": "operator", "T": "staff", "A": "integrator", "S": "system"}


class NoInput(StrictInputSerializer):
    """An action without parameters: send ``{}`` or no body."""


@dataclass
class Step:
    """What an action's ``run`` hands back to the engine for one row.

    ``transition``: keyword arguments of the django-fsm transition method; ``reason`` and
    ``payload`` go to the log row (and the event); ``then``: a follow-up action the engine
    runs on the same row after it is written, as the system (``(name, inputs)``);
    ``after``: a callable ``after(obj)`` the engine calls once the row is written (e.g. to
    cancel transfers, create a replacement), inside the same transaction.
    """

    transition: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    then: tuple[str, dict] | None = None
    after: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Action:
    """One action of a state machine.

    Attributes:
        name: the django-fsm transition method's name, e.g. ``"ship"``.
        label: what operators read, e.g. ``"Ship"``.
        who: who may run it, a subset of ``"OTAS"`` (operator, staff operator, integrator,
            system).
        input: the body's DRF serializer; its ``validated_data`` are ``run``'s keyword
            arguments (field ``source`` gives the argument's name). The operator form, the
            admin form and the OpenAPI schema are derived from it.
        run: ``run(obj, actor, **inputs) -> Step | None``, called on the locked row after
            the generic checks (who, brand switch, source state). It checks the input
            against the row (raising ``OmsError``), makes the stock effect and says how to
            call the transition. None: nothing but the transition.
        writes: model fields the transition may change besides the status, version and
            timestamps (saved set-based by the engine).
        stock: the stock effect in words ("" for none); an action with a stock effect runs
            in a savepoint of its own (its body writes the stock), unless it has a ``ledger``.
        ledger: ``ledger(rows) -> ledger`` for an action whose stock effect is on stock rows
            known from the rows alone: the engine builds it once per batch (it locks the
            stock rows, in primary-key order), ``run`` gets it as ``ledger=`` and changes
            them in memory (a refusal writes nothing: no savepoint), and the engine saves it
            (``ledger.save()``, set-based) with the rows.
        switchable: a brand may switch it off.
        primary: offered as the package page's main button when allowed.
        form: operators and admins are asked for input first (default: the input has a
            required field).
        side: for transfers, whose stock location's scope it needs (``"source"`` or
            ``"destination"``).
        event: the outbox event type it publishes, e.g. ``"package.shipment.updated"``
            (default ``"<prefix>.status.transitioned"``).
        releases_hold: it lifts the row's hold (``Machine.held``): the one kind of action a
            held row accepts, refused (409 ``not_blocked``) on a row not held. Every other
            action is refused on a held row (409 ``blocked``).
        admin: offered as an admin action on the selected rows (when operators may run it);
            False for an action whose input is each row's own (e.g. a split's assignment of
            the package's items).
        bulk: offered in the operator's package list for many selected rows, with one input
            for all of them (when it is offered in admin too); False for an action whose
            input is each row's own (a tracking number, an invoice, the items reported).
    """

    name: str
    label: str
    who: str
    input: type[serializers.Serializer] = NoInput
    run: Callable[..., Step | None] | None = None
    writes: tuple[str, ...] = ()
    stock: str = ""
    ledger: Callable[[list], Any] | None = None
    switchable: bool = True
    primary: bool = False
    form: bool | None = None
    side: str | None = None
    description: str = ""
    event: str = ""
    releases_hold: bool = False
    admin: bool = True
    bulk: bool = True

    def may_run(self, role: str) -> bool:
        """True if an actor of ``role`` (``user``/``staff``/``api``/``system``, see
        ``Actor.role``) may run it."""
        return any(letter in self.who for letter in ROLE_LETTERS.get(role, ""))

    @property
    def who_names(self) -> list[str]:
        """``["operator", "integrator"]`` for ``who == "OA"``; ``"staff"`` for ``T``."""
        return [WHO_NAMES[letter] for letter in self.who]

    @property
    def asks_input(self) -> bool:
        if self.form is not None:
            return self.form
        return any(f.required for f in self.input().fields.values())


def actions_by_name(*actions: Action) -> dict[str, Action]:
    """``{name: action}`` in declaration order; refuses a name declared twice."""
    result: dict[str, Action] = {}
    for action in actions:
        if action.name in result:
            raise ValueError(f"action {action.name!r} declared twice")
        result[action.name] = action
    return result
