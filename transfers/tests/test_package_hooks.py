"""Transfers moving their package: all arrived -> Ready to Packaging, one lost -> To Be
Rescheduled (state-machine.md, package actions transfers_arrived / transfer_lost)."""

import pytest

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from packages.creation import ItemInput, package_create
from packages.models import PackageTransition
from packages.models import Status as PackageStatus
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from transfers import services
from transfers.engine import transfer_run
from transfers.models import Status, Transfer, TransferTransition

pytestmark = pytest.mark.django_db

OPERATOR = Actor("user", "operator")


def _levels():
    return {(lvl.location_id, lvl.sku_id): (lvl.on_hand, lvl.reserved)
            for lvl in StockLevel.objects.all()}


@pytest.fixture
def world():
    """A Pending Transfer package at ``dest``: SKU ``a`` x2 from ``one``, ``b`` x1 from
    ``two``, and ``c`` x1 already reserved at ``dest``."""
    dest, one, two = StockLocationFactory(), StockLocationFactory(), StockLocationFactory()
    a, b, c = SkuFactory(), SkuFactory(), SkuFactory()
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=(), location=dest)
    for sku, quantity in ((a, 2), (b, 1), (c, 1)):
        package.items.create(sku=sku, quantity=quantity)
    StockLevel.objects.create(location=dest, sku=c, on_hand=3, reserved=1)
    StockLevel.objects.create(location=one, sku=a, on_hand=5)
    StockLevel.objects.create(location=two, sku=b, on_hand=4)
    first, second = services.transfers_create_for_package(
        package=package, lines={a.pk: 2, b.pk: 1}, actor=OPERATOR)
    assert (first.source, second.source) == (one, two)
    return {"package": package, "first": first, "second": second, "dest": dest, "one": one,
            "two": two, "a": a, "b": b, "c": c}


def _dispatch_and_receive(transfer):
    transfer_run("ready_for_dispatch", transfer_id=transfer.pk, actor=OPERATOR)
    transfer_run("dispatch", transfer_id=transfer.pk, actor=OPERATOR)
    return transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)


def test_receiving_every_transfer_readies_the_package(world):
    w = world
    package = w["package"]
    _dispatch_and_receive(w["first"])
    package.refresh_from_db()
    assert package.status == PackageStatus.PENDING_TRANSFER
    _dispatch_and_receive(w["second"])
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING
    arrived = PackageTransition.objects.get(package=package)
    assert (arrived.action, arrived.from_status, arrived.to_status, arrived.actor) == (
        "transfers_arrived", 300, 400, "system")
    assert _levels() == {
        (w["one"].pk, w["a"].pk): (3, 0),
        (w["two"].pk, w["b"].pk): (3, 0),
        (w["dest"].pk, w["a"].pk): (2, 2),
        (w["dest"].pk, w["b"].pk): (1, 1),
        (w["dest"].pk, w["c"].pk): (3, 1),
    }
    assert services.transfer_units_in_flight(package_id=package.pk) == {}


def test_receiving_one_of_two_keeps_the_package_waiting(world):
    package = world["package"]
    _dispatch_and_receive(world["first"])
    package.refresh_from_db()
    assert package.status == PackageStatus.PENDING_TRANSFER
    assert not PackageTransition.objects.filter(package=package).exists()
    assert services.transfer_units_in_flight(package_id=package.pk) == {world["b"].pk: 1}


def test_cancelling_a_waiting_transfer_reschedules_the_package(world):
    w = world
    package = w["package"]
    transfer_run("cancel", transfer_id=w["first"].pk, actor=OPERATOR, reason="source closed")
    package.refresh_from_db()
    assert package.status == PackageStatus.TO_BE_RESCHEDULED
    lost = PackageTransition.objects.get(package=package, action="transfer_lost")
    assert (lost.from_status, lost.to_status, lost.actor) == (300, 930, "system")
    assert lost.reason == f"transfer {w['first'].number} cancelled"
    assert StockLevel.objects.get(location=w["one"], sku=w["a"]).reserved == 0


def test_losing_a_transfer_releases_only_what_the_package_holds(world):
    """The full expectation: the package's own reservation (c) released, the other transfer
    cancelled at its source, nothing released at the destination for units never there."""
    w = world
    transfer_run("cancel", transfer_id=w["first"].pk, actor=OPERATOR)
    w["second"].refresh_from_db()
    assert w["second"].status == Status.CANCELLED
    assert _levels() == {
        (w["one"].pk, w["a"].pk): (5, 0),
        (w["two"].pk, w["b"].pk): (4, 0),
        (w["dest"].pk, w["c"].pk): (3, 0),
    }


def test_confirmed_cancellation_of_a_travelling_transfer_reschedules_the_package(world):
    w = world
    package = w["package"]
    transfer_run("dispatch", transfer_id=w["first"].pk, actor=OPERATOR)
    transfer_run("request_cancellation", transfer_id=w["first"].pk, actor=OPERATOR)
    package.refresh_from_db()
    assert package.status == PackageStatus.PENDING_TRANSFER  # only asked so far
    transfer_run("confirm_cancellation", transfer_id=w["first"].pk, actor=OPERATOR)
    package.refresh_from_db()
    assert package.status == PackageStatus.TO_BE_RESCHEDULED
    assert StockLevel.objects.get(location=w["one"], sku=w["a"]).on_hand == 5


def test_cancel_open_for_package_runs_no_package_hook(world):
    package = world["package"]
    services.transfers_cancel_open_for_package(package_id=package.pk, actor=OPERATOR)
    package.refresh_from_db()
    assert package.status == PackageStatus.PENDING_TRANSFER  # the caller moves the package
    assert set(Transfer.objects.values_list("status", flat=True)) == {Status.CANCELLED}
    assert not PackageTransition.objects.filter(package=package).exists()


def test_hooks_leave_packages_in_other_states_alone():
    package = make_package(PackageStatus.TO_BE_RESCHEDULED, quantities=())
    sku = SkuFactory()
    StockLevel.objects.create(location=StockLocationFactory(), sku=sku, on_hand=2)
    package.items.create(sku=sku, quantity=1)
    first, = services.transfers_create_for_package(package=package, lines={sku.pk: 1}, actor=OPERATOR)
    transfer_run("cancel", transfer_id=first.pk, actor=OPERATOR)
    assert not PackageTransition.objects.filter(package=package).exists()


def test_package_created_short_waits_for_transfers_then_readies():
    """End to end through package_create: Pending Transfer, transfers, arrival."""
    dest, source = StockLocationFactory(), StockLocationFactory()
    sku = SkuFactory()
    StockLevel.objects.create(location=dest, sku=sku, on_hand=1)
    StockLevel.objects.create(location=source, sku=sku, on_hand=5)
    package = package_create(order_number="O-T", brand=BrandFactory(), location=dest,
                             items=[ItemInput(sku=sku, quantity=3)], actor=OPERATOR)
    assert package.status == PackageStatus.PENDING_TRANSFER
    transfer = Transfer.objects.get(package=package)
    assert transfer.items.get().quantity == 2
    _dispatch_and_receive(transfer)
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING
    assert _levels() == {(dest.pk, sku.pk): (3, 3), (source.pk, sku.pk): (3, 0)}
    assert TransferTransition.objects.filter(transfer=transfer).count() == 4


def test_three_skus_one_local_two_transfers_then_ready():
    """Issue acceptance: the location holds 1 of 3 SKUs; two transfers from the locations
    holding the others; receiving both readies the package; stock moves exactly once."""
    home, north, south = (StockLocationFactory(region="SP"), StockLocationFactory(region="SP"),
                          StockLocationFactory(region="SP"))
    local, from_north, from_south = SkuFactory(), SkuFactory(), SkuFactory()
    StockLevel.objects.create(location=home, sku=local, on_hand=1)
    StockLevel.objects.create(location=north, sku=from_north, on_hand=4)
    StockLevel.objects.create(location=south, sku=from_south, on_hand=4)
    package = package_create(order_number="O-3", brand=BrandFactory(), location=home, actor=OPERATOR,
                             items=[ItemInput(sku=s, quantity=1) for s in (local, from_north, from_south)])
    assert package.status == PackageStatus.PENDING_TRANSFER
    transfers = list(Transfer.objects.filter(package=package).order_by("pk"))
    assert {(t.source_id, t.items.get().sku_id) for t in transfers} == {
        (north.pk, from_north.pk), (south.pk, from_south.pk)}
    assert _levels()[(north.pk, from_north.pk)] == (4, 1)  # reserved at the source
    _dispatch_and_receive(transfers[0])
    package.refresh_from_db()
    assert package.status == PackageStatus.PENDING_TRANSFER
    _dispatch_and_receive(transfers[1])
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING
    assert _levels() == {
        (home.pk, local.pk): (1, 1), (home.pk, from_north.pk): (1, 1), (home.pk, from_south.pk): (1, 1),
        (north.pk, from_north.pk): (3, 0), (south.pk, from_south.pk): (3, 0),
    }
    assert PackageTransition.objects.filter(package=package, action="transfers_arrived").count() == 1
