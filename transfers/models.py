"""Transfers: units moved from one stock location to another for a package.

The state machine implements the "Transfer states (6) and actions" table of
``docs/state-machine.md``: one django-fsm-2 transition per action, with exactly the
sources and targets of the table. Transition bodies only assign fields of the transfer row;
everything else about an action (who, side, input, stock effect) is declared in
``transfers.actions`` and run by ``transfers.engine`` (locks, log row, events, package hooks).
"""

from __future__ import annotations

import django_fsm as fsm
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from oms.actions.log import TransitionLog
from oms.actions.row_guard import UpdateFieldsRequired
from oms.timestamps import TimeStampedModel
from oms.translation import untranslated


class Status(models.TextChoices):
    """The 6 transfer states; the slug is what the database stores."""

    WAITING = "waiting", _("Waiting")
    READY_TO_SHIPMENT = "ready_to_shipment", _("Ready To Shipment")
    IN_TRANSIT = "in_transit", _("In Transit")
    TRANSFERRED = "transferred", _("Transferred")
    CANCELLATION_WAITING = "cancellation_waiting", _("Cancellation Waiting")
    CANCELLED = "cancelled", _("Cancelled")


S = Status

# Transfers whose units are promised to the package but have not reached its location.
OPEN_STATES = frozenset({S.WAITING, S.READY_TO_SHIPMENT, S.IN_TRANSIT, S.CANCELLATION_WAITING})


def transfer_status_dict(slug: str) -> dict:
    """Return ``{"slug": "in_transit", "label": "In Transit"}`` for a status slug; the label
    in English whatever language is active (API, events, webhooks)."""
    return {"slug": str(slug), "label": untranslated(Status(slug).label)}


class Transfer(UpdateFieldsRequired, fsm.FSMModelMixin, TimeStampedModel):
    """Units of a package's SKUs travelling from ``source`` to ``destination``.

    ``status`` is protected: only the transitions below change it, and only the engine
    (``transfers.engine``) calls them. ``version`` grows by one with every action.
    """

    Status = Status

    number = models.CharField(max_length=100, unique=True)
    package = models.ForeignKey(
        "packages.Package", on_delete=models.PROTECT, related_name="transfers"
    )
    source = models.ForeignKey(
        "locations.StockLocation", on_delete=models.PROTECT, related_name="outgoing_transfers"
    )
    destination = models.ForeignKey(
        "locations.StockLocation", on_delete=models.PROTECT, related_name="incoming_transfers"
    )
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True)
    status = fsm.FSMField(max_length=32, choices=Status.choices, default=Status.WAITING,
                          protected=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["source", "status"]),
            models.Index(fields=["destination", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=models.F("destination")),
                name="transfer_source_ne_destination",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    # --- transitions (state-machine.md, "Transfer states (6) and actions") ---------------
    @fsm.transition(field=status, source=S.WAITING, target=S.READY_TO_SHIPMENT)
    def ready_for_dispatch(self) -> None:
        pass

    @fsm.transition(field=status, source=[S.WAITING, S.READY_TO_SHIPMENT], target=S.IN_TRANSIT)
    def dispatch(self, *, carrier: str = "", tracking_number: str = "") -> None:
        self.carrier, self.tracking_number = carrier, tracking_number

    @fsm.transition(field=status, source=S.IN_TRANSIT, target=S.TRANSFERRED)
    def receive(self) -> None:
        pass

    @fsm.transition(field=status, source=S.WAITING, target=S.CANCELLED)
    def cancel(self) -> None:
        pass

    @fsm.transition(
        field=status, source=[S.READY_TO_SHIPMENT, S.IN_TRANSIT], target=S.CANCELLATION_WAITING
    )
    def request_cancellation(self) -> None:
        pass

    @fsm.transition(field=status, source=S.CANCELLATION_WAITING, target=S.CANCELLED)
    def confirm_cancellation(self) -> None:
        pass

    @fsm.transition(
        field=status, source=S.CANCELLATION_WAITING,
        target=fsm.RETURN_VALUE(S.READY_TO_SHIPMENT, S.IN_TRANSIT),
    )
    def reject_cancellation(self, *, previous_status: str) -> str:
        return previous_status

    @property
    def status_info(self) -> dict:
        return transfer_status_dict(self.status)


class TransferItem(models.Model):
    """One SKU line of a transfer: ``quantity`` whole units (>= 1)."""

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("locations.Sku", on_delete=models.PROTECT, related_name="transfer_items")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "sku"], name="transfer_item_transfer_sku_uniq"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="transfer_item_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku.code}"


class TransferTransition(TransitionLog):
    """One row per action on a transfer: the transition log. ``from_status`` is null for
    the ``create`` row."""

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="transitions")
    # null, not "": the ``create`` row has no state before it (as PackageTransition).
    from_status = models.CharField(  # noqa: DJ001
        max_length=32, choices=Status.choices, null=True, blank=True
    )
    to_status = models.CharField(max_length=32, choices=Status.choices)

    class Meta(TransitionLog.Meta):
        indexes = [models.Index(fields=["transfer", "id"])]

    def __str__(self) -> str:
        before = self.get_from_status_display() if self.from_status is not None else "—"
        return f"{self.transfer.number}: {self.action} ({before} → {self.get_to_status_display()})"
