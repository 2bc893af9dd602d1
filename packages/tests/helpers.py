"""Build packages in any state with stock that matches it, for service tests.

The status is given at construction (allowed for protected FSM fields); stock rows are set
to what a package in that state holds, and a Pending Cancellation package gets the log row
of its cancellation request, as the services would have written.
"""

from __future__ import annotations

from django.urls import reverse

from locations.models import OperatorAssignment, StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from packages.models import PICKED_STATES, RESERVING_STATES, Package, PackageItem, PackageTransition, Status
from packages.tests.factories import BrandFactory


def make_package(status: int = Status.PENDING, *, quantities=(1,), on_hand: int = 5, brand=None,
                 location=None, delivery_type=Package.DeliveryType.SHIP,
                 status_before_cancellation: int = Status.IN_PROGRESS, **fields) -> Package:
    """Return a saved package in ``status`` with one item per entry of ``quantities``.

    Each SKU gets ``on_hand`` units at the location, of which the package's quantity is
    reserved when ``status`` holds reservations. For Pending Cancellation the stock matches
    ``status_before_cancellation``.
    """
    brand = brand or BrandFactory(slug="test-brand")
    location = location or StockLocationFactory()
    package = Package.objects.create(
        number=fields.pop("number", None) or f"T-{Package.objects.count() + 1}-{location.code}",
        order_number=fields.pop("order_number", "ORDER-1"), brand=brand, location=location,
        delivery_type=delivery_type, status=status, **fields,
    )
    holding = status_before_cancellation if status == Status.PENDING_CANCELLATION else status
    for quantity in quantities:
        sku = SkuFactory()
        PackageItem.objects.create(package=package, sku=sku, quantity=quantity)
        reserved = quantity if holding in RESERVING_STATES else 0
        stock_on_hand = on_hand - quantity if holding in PICKED_STATES else on_hand
        StockLevel.objects.create(location=location, sku=sku, on_hand=max(stock_on_hand, reserved),
                                  reserved=reserved)
    if status == Status.PENDING_CANCELLATION:
        PackageTransition.objects.create(
            package=package, from_status=status_before_cancellation,
            to_status=Status.PENDING_CANCELLATION, action="request_cancellation", actor="test",
        )
    return package


def stock_snapshot(location_id=None) -> list[tuple]:
    qs = StockLevel.objects.order_by("pk")
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    return list(qs.values_list("pk", "on_hand", "reserved", "damaged"))


def split_parts(package, other) -> dict:
    """A ``split`` input for ``package``: its first item stays at its location, the rest go to
    ``other`` (a stock location)."""
    first, *rest = package.items.select_related("sku").order_by("id")
    return {"parts": [
        {"location": package.location.code, "items": [{"sku": first.sku.code, "quantity": first.quantity}]},
        {"location": other.code, "items": [{"sku": item.sku.code, "quantity": item.quantity}
                                           for item in rest]}]}


def make_user(django_user_model, username: str, *locations, staff: bool = False):
    """Return a saved user (password ``pw``) working at ``locations``; ``staff`` for staff."""
    user = django_user_model.objects.create_user(username, password="pw", is_staff=staff)
    for location in locations:
        OperatorAssignment.objects.create(user=user, location=location)
    return user


def action_url(package, action: str) -> str:
    """The operator form URL of ``action`` on ``package``."""
    return reverse("packages:action", args=[package.number, action])
