"""The transfer actions, each declared once: who may run it, whose stock location's scope
it needs (``side``), its input, its stock effect, its label, the fields it writes.

Source: the "Transfer states (6) and actions" table of ``docs/state-machine.md``; sources
and targets are not repeated here, they live on the django-fsm transitions of
``Transfer``. The engine (``transfers.engine.transfer_act``) runs them; the API, the
operator and admin forms, ``allowed_actions`` and the published graph are derived from
``ACTIONS``.

Each ``run(transfer, actor, **inputs)`` gets the locked transfer (package, source and
destination joined, items with their SKUs prefetched; the package row locked before it),
after the engine checked who may run it and the source state; it makes the stock effect
and returns the ``Step``.

Stock, by action (the table's "stock effect" column, with one decision of ours): the units
are **reserved at the source when the transfer is created** (``transfers.services``), not
at ``ready_for_dispatch``. Planning picks sources by their available stock; reserving at
once means two packages planned one after the other cannot be promised the same units. So
``ready_for_dispatch`` moves no stock.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from locations import services as stock
from oms.actions.actors import Actor
from oms.actions.declaration import Action, NoInput, Step, actions_by_name
from oms.actions.errors import OmsError
from oms.actions.inputs import StrictInputSerializer
from oms.api.schema import StrictCharField
from transfers.models import Status, Transfer, TransferTransition
from transfers.signals import transfer_arriving, transfer_cancelled, transfer_received

SOURCE, DESTINATION = "source", "destination"


# --- inputs ------------------------------------------------------------------------------

class ReasonInput(StrictInputSerializer):
    """``{"reason": str (optional, <= 255)}``, stored in the transition log."""

    reason = StrictCharField(max_length=255, required=False, allow_blank=True)


class DispatchInput(StrictInputSerializer):
    """``{"carrier": str, "tracking_number": str}``, both optional (<= 64 characters)."""

    carrier = StrictCharField(max_length=64, required=False, allow_blank=True)
    tracking_number = StrictCharField(max_length=64, required=False, allow_blank=True)


# --- helpers -----------------------------------------------------------------------------

def transfer_item_lines(transfer: Transfer) -> dict[int, int]:
    """``{sku_id: quantity}`` of the transfer's items (prefetched, else 1 query)."""
    return {item.sku_id: item.quantity for item in transfer.items.all()}


def _status_before_cancellation_request(transfer: Transfer) -> str:
    previous = (
        TransferTransition.objects.filter(transfer=transfer, to_status=Status.CANCELLATION_WAITING)
        .exclude(from_status=Status.CANCELLATION_WAITING)
        .order_by("-id").values_list("from_status", flat=True).first()
    )
    if previous is None:
        raise OmsError(f"No cancellation request in the log of transfer {transfer.number}",
                       code="log_inconsistent")
    return previous


def _package_awaits(transfer: Transfer) -> bool:
    """Whether the package still waits for the transfer's units at its destination, as the
    receivers of ``transfer_arriving`` (the packages app) answer."""
    return any(answer for _receiver, answer in transfer_arriving.send(sender=Transfer, transfer=transfer))


def _tell_received(transfer: Transfer) -> None:
    transfer_received.send(sender=Transfer, transfer=transfer)


def _tell_cancelled(transfer: Transfer) -> None:
    transfer_cancelled.send(sender=Transfer, transfer=transfer)


# --- the actions' bodies -------------------------------------------------------------------

def _dispatch(transfer: Transfer, actor: Actor, *, carrier: str = "", tracking_number: str = "") -> Step:
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    stock.stock_pick(location_id=transfer.source_id, lines=transfer_item_lines(transfer))
    return Step(transition={"carrier": carrier, "tracking_number": tracking_number},
                payload={"carrier": carrier, "tracking_number": tracking_number})


def _receive(transfer: Transfer, actor: Actor) -> Step:
    lines = transfer_item_lines(transfer)
    reserved_for_package = _package_awaits(transfer)
    if reserved_for_package:
        stock.stock_receive_reserved(location_id=transfer.destination_id, lines=lines)
    else:
        stock.stock_return(location_id=transfer.destination_id, lines=lines)
    return Step(payload={"reserved_for_package": reserved_for_package}, after=_tell_received)


def _cancel(transfer: Transfer, actor: Actor, *, reason: str = "", tell_package: bool = True) -> Step:
    """``tell_package=False`` (not an input: only ``transfers_cancel_open_for_package``
    passes it) keeps the package hooks quiet."""
    stock.stock_release(location_id=transfer.source_id, lines=transfer_item_lines(transfer))
    return Step(reason=reason, after=_tell_cancelled if tell_package else None)


def _with_reason(transfer: Transfer, actor: Actor, *, reason: str = "") -> Step:
    return Step(reason=reason)


def _confirm_cancellation(transfer: Transfer, actor: Actor, *, reason: str = "") -> Step:
    before_request = _status_before_cancellation_request(transfer)
    lines = transfer_item_lines(transfer)
    if before_request == Status.IN_TRANSIT:
        stock.stock_return(location_id=transfer.source_id, lines=lines)
    else:
        stock.stock_release(location_id=transfer.source_id, lines=lines)
    return Step(reason=reason, payload={"status_before_request": before_request},
                after=_tell_cancelled)


def _reject_cancellation(transfer: Transfer, actor: Actor, *, reason: str = "") -> Step:
    return Step(transition={"previous_status": _status_before_cancellation_request(transfer)},
                reason=reason)


ACTIONS: dict[str, Action] = actions_by_name(
    Action("ready_for_dispatch", _("Ready for Dispatch"), "OA", input=NoInput, side=SOURCE,
           description="The units are prepared at the source. No stock effect: they were "
                       "reserved there when the transfer was created."),
    Action("dispatch", _("Dispatch"), "OA", input=DispatchInput, run=_dispatch, side=SOURCE,
           writes=("carrier", "tracking_number"),
           stock="the units leave the source: reserved and on_hand both drop",
           description="Hand the units to the carrier; carrier and tracking number are "
                       "optional and stored as given (trimmed)."),
    Action("receive", _("Receive"), "OA", input=NoInput, run=_receive, side=DESTINATION,
           stock="the units enter the destination's on_hand, reserved for the package while "
                 "it still waits for them there; else unreserved",
           description="Take the units in at the destination. The package moves on when its "
                       "last transfer arrived (transfers_arrived)."),
    Action("cancel", _("Cancel"), "OAS", input=ReasonInput, run=_cancel, side=SOURCE,
           stock="the source reservation is released",
           description="Cancel before anything left the source. A package in Pending "
                       "Transfer loses it (transfer_lost)."),
    Action("request_cancellation", _("Request Cancellation"), "OAS", input=ReasonInput,
           run=_with_reason, side=SOURCE,
           description="Ask to stop a prepared or travelling transfer. No stock effect."),
    Action("confirm_cancellation", _("Confirm Cancellation"), "OA", input=ReasonInput,
           run=_confirm_cancellation, side=SOURCE,
           stock="by the state before the request: from in_transit the units come back to "
                 "the source's on_hand; from ready_to_shipment the source reservation is released",
           description="Cancel after the request. A package in Pending Transfer loses it "
                       "(transfer_lost)."),
    Action("reject_cancellation", _("Reject Cancellation"), "OA", input=ReasonInput,
           run=_reject_cancellation, side=SOURCE,
           description="Too late to cancel: back to the state before the request (read from "
                       "the log). No stock effect."),
)
