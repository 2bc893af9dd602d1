"""Row locks under real concurrency (PostgreSQL): threads hit the same rows at once."""

import pytest
from django.db.models import Sum

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.actions.errors import ActionNotAllowed, InsufficientStock
from oms.events.models import OutboxEvent
from oms.testing import run_concurrently
from packages.engine import package_run
from packages.models import PackageTransition
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package
from transfers import services
from transfers.engine import transfer_run
from transfers.models import Status, Transfer, TransferItem, TransferTransition
from transfers.tests.factories import make_transfer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OPERATOR = Actor("user", "operator")




def _level(location, sku):
    level = StockLevel.objects.get(location=location, sku=sku)
    return level.on_hand, level.reserved


def test_two_concurrent_receives_apply_once():
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    transfer = make_transfer(Status.IN_TRANSIT, package=package, quantities=(3,), on_hand=5)
    sku = transfer.items.get().sku
    results = run_concurrently(2, lambda i: transfer_run(
        "receive", transfer_id=transfer.pk, actor=OPERATOR))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ActionNotAllowed) for r in results if isinstance(r, Exception)), results
    assert _level(package.location, sku) == (3, 3)
    assert _level(transfer.source, sku) == (2, 0)
    assert TransferTransition.objects.filter(transfer=transfer, action="receive").count() == 1
    assert OutboxEvent.objects.filter(aggregate_type="transfer", aggregate_id=transfer.pk).count() == 1
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING
    assert PackageTransition.objects.filter(package=package, action="transfers_arrived").count() == 1


def test_last_two_transfers_received_at_once_ready_the_package_once():
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    transfers = [make_transfer(Status.IN_TRANSIT, package=package, quantities=(1, 2))
                 for _ in range(2)]
    results = run_concurrently(2, lambda i: transfer_run(
        "receive", transfer_id=transfers[i].pk, actor=OPERATOR))
    assert not any(isinstance(r, Exception) for r in results), results
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING
    assert list(PackageTransition.objects.filter(package=package).values_list("action", flat=True)) \
        == ["transfers_arrived"]
    dest = StockLevel.objects.filter(location=package.location)
    assert sorted(dest.values_list("on_hand", "reserved")) == [(1, 1), (1, 1), (2, 2), (2, 2)]


def test_ten_concurrent_creations_never_over_reserve_scarce_stock():
    """Ten packages each need 2 units; two sources hold 5 and 2 available."""
    sku = SkuFactory()
    dest = StockLocationFactory(region="SP")
    near, far = StockLocationFactory(region="SP"), StockLocationFactory(region="RJ")
    StockLevel.objects.create(location=near, sku=sku, on_hand=6, reserved=1)
    StockLevel.objects.create(location=far, sku=sku, on_hand=2)
    packages = []
    for n in range(10):
        package = make_package(PackageStatus.PENDING, quantities=(), location=dest, number=f"C-{n}")
        package.items.create(sku=sku, quantity=2)
        packages.append(package)
    results = run_concurrently(10, lambda i: services.transfers_create_for_package(
        package=packages[i], lines={sku.pk: 2}, actor=OPERATOR))
    failures = [r for r in results if isinstance(r, Exception)]
    successes = [r for r in results if not isinstance(r, Exception)]
    assert all(isinstance(e, InsufficientStock) for e in failures), failures
    assert 1 <= len(successes) <= 3  # 7 units available: at most 3 packages of 2
    assert _level(near, sku)[1] <= 6 and _level(far, sku)[1] <= 2
    reserved_for_transfers = (
        StockLevel.objects.filter(location__in=[near, far]).aggregate(r=Sum("reserved"))["r"] - 1
    )
    assert reserved_for_transfers == TransferItem.objects.aggregate(q=Sum("quantity"))["q"]
    assert reserved_for_transfers == 2 * len(successes)
    assert Transfer.objects.count() == TransferTransition.objects.count()
    assert Transfer.objects.count() == OutboxEvent.objects.filter(type="transfer.status.created").count()
    failed_packages = [p.pk for p, r in zip(packages, results, strict=True) if isinstance(r, Exception)]
    assert not Transfer.objects.filter(package_id__in=failed_packages).exists()


def test_package_cancellation_racing_dispatch_of_its_transfer_stays_consistent():
    """Package confirm_cancellation locks package -> transfers; dispatch locks the transfer:
    no deadlock, and the source ends consistent with whichever won."""
    package = make_package(PackageStatus.PENDING_CANCELLATION, quantities=(),
                           status_before_cancellation=PackageStatus.PENDING_TRANSFER)
    transfer = make_transfer(Status.WAITING, package=package, quantities=(2,), on_hand=5)
    sku = transfer.items.get().sku

    def act(i):
        if i == 0:
            return package_run("confirm_cancellation", package_id=package.pk, actor=OPERATOR)
        return transfer_run("dispatch", transfer_id=transfer.pk, actor=OPERATOR)

    results = run_concurrently(2, act)
    assert not isinstance(results[0], Exception), results
    transfer.refresh_from_db()
    package.refresh_from_db()
    assert package.status == PackageStatus.CANCELED
    if isinstance(results[1], Exception):
        assert isinstance(results[1], ActionNotAllowed)
        assert transfer.status == Status.CANCELLED
        assert _level(transfer.source, sku) == (5, 0)
    else:
        assert transfer.status == Status.CANCELLATION_WAITING
        assert _level(transfer.source, sku) == (3, 0)


def test_package_cancellation_racing_receive_of_its_transfer_stays_consistent():
    """Both lock the package first (the transfer engine does so before the transfer): no
    deadlock; the received units end unreserved at the destination whichever won."""
    package = make_package(PackageStatus.PENDING_CANCELLATION, quantities=(),
                           status_before_cancellation=PackageStatus.PENDING_TRANSFER)
    transfer = make_transfer(Status.IN_TRANSIT, package=package, quantities=(2,), on_hand=5)
    sku = transfer.items.get().sku

    def act(i):
        if i == 0:
            return package_run("confirm_cancellation", package_id=package.pk, actor=OPERATOR)
        return transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)

    results = run_concurrently(2, act)
    assert not isinstance(results[0], Exception), results
    package.refresh_from_db()
    transfer.refresh_from_db()
    assert package.status == PackageStatus.CANCELED
    if isinstance(results[1], Exception):
        assert isinstance(results[1], ActionNotAllowed), results
        assert transfer.status == Status.CANCELLATION_WAITING
        assert not StockLevel.objects.filter(location=package.location, sku=sku).exists()
    else:
        assert transfer.status == Status.TRANSFERRED
        assert _level(package.location, sku) == (2, 0)
