"""Who may run each package action, with its operator-facing label.

Source: the "who" column of the Package actions table in docs/state-machine.md
(O = operator in the browser, A = integrator through the API, S = the system). Sources and
targets are not repeated here: they live on the django-fsm transitions of ``Package``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    """``who`` is a subset of ``"OAS"``; ``switchable`` actions can be turned off per brand."""

    name: str
    label: str
    who: str
    switchable: bool = True


_SPECS = [
    ActionSpec("start_preparing", "Start Preparing", "OA"),
    ActionSpec("complete_packaging", "Packaging Completed", "OA"),
    ActionSpec("report_missing", "Product Not Found", "OA"),
    ActionSpec("report_defective", "Defective Product", "OA"),
    ActionSpec("ship", "Ship", "OA"),
    ActionSpec("confirm_label_printed", "Confirm Label Printed", "OA"),
    ActionSpec("attach_invoice", "Attach Invoice", "AS"),
    ActionSpec("mark_ready_for_pickup", "Ready for Pickup", "OA"),
    ActionSpec("hand_over", "Hand Over", "OA"),
    ActionSpec("record_delivery_attempt", "Record Delivery Attempt", "AS"),
    ActionSpec("mark_delivered", "Mark Delivered", "AS"),
    ActionSpec("mark_delivery_failed", "Mark Delivery Failed", "AS"),
    ActionSpec("reschedule", "Reschedule", "OAS"),
    ActionSpec("refuse", "Refuse", "OA"),
    ActionSpec("reassign_location", "Reassign Location", "OAS"),
    ActionSpec("cancel", "Cancel", "OA"),
    ActionSpec("request_cancellation", "Request Cancellation", "OA"),
    ActionSpec("confirm_cancellation", "Confirm Cancellation", "OA"),
    ActionSpec("reject_cancellation", "Reject Cancellation", "OA"),
    ActionSpec("transfers_arrived", "Transfers Arrived", "S", switchable=False),
    ActionSpec("transfer_lost", "Transfer Lost", "S", switchable=False),
]

ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in _SPECS}

# Actor.kind -> letter of the "who" column.
ACTOR_KIND_LETTER = {"user": "O", "api": "A", "system": "S"}


def actor_may_run(action: str, actor_kind: str) -> bool:
    """Return True if an actor of ``actor_kind`` (``user``/``api``/``system``) may run ``action``."""
    spec = ACTIONS.get(action)
    letter = ACTOR_KIND_LETTER.get(actor_kind)
    return spec is not None and letter is not None and letter in spec.who
