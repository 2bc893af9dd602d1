"""The package's side of transfer events (``transfers.signals``), in the transfer action's
transaction (the package row is already locked by ``transfers.engine``): received units are
reserved for a package still waiting for them there; a package in Pending Transfer moves
on when its last transfer arrived (``transfers_arrived``) or one was cancelled
(``transfer_lost``). A blocked package does not move: ``unblock`` runs what became due."""

from __future__ import annotations

from django.dispatch import receiver

from oms.actions.actors import system_actor
from packages.engine import package_run
from packages.models import Package, Status
from transfers.models import Transfer
from transfers.signals import transfer_arriving, transfer_cancelled, transfer_received

# Package states in which the package still waits for (or may again wait for) the units of
# its transfers: received units are reserved for it only then.
PACKAGE_AWAITING_TRANSFERS = frozenset({Status.PENDING_TRANSFER, Status.PENDING_CANCELLATION})


@receiver(transfer_arriving, dispatch_uid="packages.transfer_arriving")
def package_awaits_transfer(sender, *, transfer: Transfer, **kwargs) -> bool:
    """True when the transfer's package still waits for its units at the transfer's
    destination (Pending Transfer, or Pending Cancellation which may return to it)."""
    status, location_id = (Package.objects.select_for_update().filter(pk=transfer.package_id)
                           .values_list("status", "location_id").get())
    return status in PACKAGE_AWAITING_TRANSFERS and location_id == transfer.destination_id


@receiver(transfer_received, dispatch_uid="packages.transfer_received")
def package_on_transfer_received(sender, *, transfer: Transfer, **kwargs) -> None:
    package = Package.objects.select_for_update().get(pk=transfer.package_id)
    if package.status != Status.PENDING_TRANSFER or package.is_blocked:
        return
    others_open = (Transfer.objects.filter(package_id=package.pk)
                   .exclude(status__in=[Transfer.Status.TRANSFERRED, Transfer.Status.CANCELLED]).exists())
    if not others_open:
        package_run("transfers_arrived", package_id=package.pk, actor=system_actor())


@receiver(transfer_cancelled, dispatch_uid="packages.transfer_cancelled")
def package_on_transfer_cancelled(sender, *, transfer: Transfer, **kwargs) -> None:
    package = Package.objects.select_for_update().get(pk=transfer.package_id)
    if package.status == Status.PENDING_TRANSFER and not package.is_blocked:
        package_run("transfer_lost", package_id=package.pk, actor=system_actor(),
                    reason=f"transfer {transfer.number} cancelled")
