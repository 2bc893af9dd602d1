"""Build transfers in any state with the stock rows a transfer in that state implies."""

from __future__ import annotations

import factory

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from packages.models import PackageItem
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package
from transfers.models import Status, Transfer, TransferItem, TransferTransition

# Where the units of a transfer are, by the state they are in.
RESERVED_AT_SOURCE = {Status.WAITING, Status.READY_TO_SHIPMENT}
LEFT_SOURCE = {Status.IN_TRANSIT, Status.TRANSFERRED}


class TransferFactory(factory.django.DjangoModelFactory):
    """A bare transfer row (no items, no stock): prefer ``make_transfer`` in service tests."""

    class Meta:
        model = Transfer

    number = factory.Sequence(lambda n: f"TR{n:08d}")
    package = factory.LazyFunction(lambda: make_package(PackageStatus.PENDING_TRANSFER, quantities=()))
    source = factory.SubFactory(StockLocationFactory)
    destination = factory.LazyAttribute(lambda o: o.package.location)


def make_transfer(status: str = Status.WAITING, *, package=None, quantities=(2,), on_hand: int = 5,
                  source=None, skus=None, status_before_cancellation: str = Status.IN_TRANSIT,
                  add_package_items: bool = True) -> Transfer:
    """Return a saved transfer in ``status`` to ``package.location`` with consistent stock.

    ``package`` defaults to a new Pending Transfer package without items. One item per entry
    of ``quantities`` (new SKUs unless ``skus`` is given), also added to the package's items
    unless ``add_package_items`` is false. The source gets ``on_hand`` units of each SKU
    before the transfer: reserved for it in Waiting / Ready To Shipment, gone from on-hand in
    In Transit / Transferred; a Transferred one also holds the units at the destination,
    on hand and reserved. Cancellation Waiting follows ``status_before_cancellation`` and
    gets the log row of the request.
    """
    package = package or make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    source = source or StockLocationFactory()
    skus = skus or [SkuFactory() for _ in quantities]
    transfer = Transfer.objects.create(
        number=f"{package.number}-T{Transfer.objects.filter(package=package).count() + 1}",
        package=package, source=source, destination=package.location, status=status,
    )
    holding = status_before_cancellation if status == Status.CANCELLATION_WAITING else status
    for sku, quantity in zip(skus, quantities, strict=True):
        TransferItem.objects.create(transfer=transfer, sku=sku, quantity=quantity)
        if add_package_items:
            PackageItem.objects.create(package=package, sku=sku, quantity=quantity)
        level, _ = StockLevel.objects.get_or_create(location=source, sku=sku,
                                                    defaults={"on_hand": on_hand})
        if holding in RESERVED_AT_SOURCE:
            level.reserved += quantity
        elif holding in LEFT_SOURCE:
            level.on_hand -= quantity
        level.save(update_fields=["on_hand", "reserved"])
        if holding == Status.TRANSFERRED:
            dest, _ = StockLevel.objects.get_or_create(location=package.location, sku=sku)
            dest.on_hand += quantity
            dest.reserved += quantity
            dest.save(update_fields=["on_hand", "reserved"])
    if status == Status.CANCELLATION_WAITING:
        TransferTransition.objects.create(
            transfer=transfer, from_status=status_before_cancellation,
            to_status=Status.CANCELLATION_WAITING, action="request_cancellation", actor="test",
        )
    return transfer
