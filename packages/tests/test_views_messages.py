"""Operator pages and flash messages speak in labels and links, not slugs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from locations.models import OperatorAssignment, StockLevel
from locations.tests.factories import StockLocationFactory
from packages.models import Package, Status
from packages.tests.helpers import action_url, make_package, make_user

pytestmark = pytest.mark.django_db


def detail_url(package):
    return reverse("packages:detail", args=[package.number])


def warnings_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == "warning"]


def history_cells(page: str) -> str:
    return page.split('data-testid="history"', 1)[1].split("</table>", 1)[0]


def test_package_page_shows_the_reason_label_not_its_slug(op_client, here):
    package = make_package(Status.PENDING, location=here, quantities=(1,), on_hand=3)
    item = package.items.get()
    op_client.post(action_url(package, "report_missing"), {"version": 1, f"qty_{item.pk}": 1})

    page = op_client.get(detail_url(package)).content.decode()

    assert "product_not_found" not in page
    assert "Product Not Found" in history_cells(page)
    assert re.search(r"<dt>Cancellation reason</dt><dd>Product Not Found</dd>", page)


def test_replacement_in_the_flash_message_links_to_its_page(op_client, here):
    package = make_package(Status.PENDING, location=here, quantities=(1,), on_hand=3)
    item = package.items.get()

    response = op_client.post(action_url(package, "report_missing"), {"version": 1, f"qty_{item.pk}": 1},
                              follow=True)

    package.refresh_from_db()
    replacement = package.replacement
    link = f'<a href="{detail_url(replacement)}">{replacement.number}</a>'
    assert f"Replacement package {link} created" in response.content.decode()


@pytest.mark.parametrize("works_there", [True, False])
def test_split_off_packages_in_the_flash_message_link_only_where_the_user_works(
        op_client, op_user, here, works_there):
    elsewhere = StockLocationFactory(code="ELSEWHERE")
    if works_there:
        OperatorAssignment.objects.create(user=op_user, location=elsewhere)
    package = make_package(Status.PENDING, location=here, quantities=(2,), on_hand=3)
    item = package.items.get()
    StockLevel.objects.create(location=elsewhere, sku=item.sku, on_hand=5)

    response = op_client.post(action_url(package, "report_missing_items"),
                              {"version": 1, f"qty_{item.pk}": 1}, follow=True)

    message = next(str(m) for m in response.context["messages"] if str(m).startswith("New package"))
    new = Package.objects.get(split_from=package)
    assert new.location == elsewhere
    assert new.number in message
    assert (f'<a href="{detail_url(new)}">{new.number}</a>' in message) is works_there


def test_a_refusal_for_missing_stock_names_each_shortage_once(op_client, here):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, location=here, on_hand=0)
    sku = package.items.get().sku.code

    response = op_client.post(action_url(package, "reschedule"), {"version": package.version}, follow=True)

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Reschedule refused:")
    assert message.count(sku) == 1 and message.count("needs 1, has 0") == 1


def test_stale_click_names_the_other_tabs_action_and_this_clicks_action(op_client, here):
    package = make_package(Status.PENDING, location=here)
    op_client.post(action_url(package, "start_preparing"), {"version": 1})  # the first tab

    response = op_client.post(action_url(package, "complete_packaging"), {"version": 1}, follow=True)

    [message] = warnings_of(response)
    assert "you ran Start Preparing" in message and "it is now In Progress" in message
    assert "Packaging Completed was not run" in message
    assert "a second time" not in message


def test_stale_repeat_of_the_same_click_says_it_was_done_once(op_client, here):
    package = make_package(Status.PENDING, location=here)
    op_client.post(action_url(package, "start_preparing"), {"version": 1})

    response = op_client.post(action_url(package, "start_preparing"), {"version": 1}, follow=True)

    [message] = warnings_of(response)
    assert message == ("You already ran Start Preparing: it is now In Progress. "
                       "Nothing was done a second time.")


def colleague_starts(client, django_user_model, here, package):
    """User ``carl``, also at ``here``, runs Start Preparing on ``package`` in the browser."""
    client.force_login(make_user(django_user_model, "carl", here))
    client.post(action_url(package, "start_preparing"), {"version": 1})


def test_stale_click_after_a_colleague_names_them_and_this_clicks_action(
        client, django_user_model, here, op_user):
    package = make_package(Status.PENDING, location=here)
    colleague_starts(client, django_user_model, here, package)
    client.force_login(op_user)

    response = client.post(action_url(package, "complete_packaging"), {"version": 1}, follow=True)

    [message] = warnings_of(response)
    assert message.startswith("Someone else changed this package (user:carl: Start Preparing): "
                              "it is now In Progress.")
    assert "Packaging Completed was not run" in message


def test_stale_click_of_the_action_a_colleague_already_ran_says_nothing_was_done_twice(
        client, django_user_model, here, op_user):
    # Regression: it said "Start Preparing was not run; act again if still needed" although
    # the colleague had just run it.
    package = make_package(Status.PENDING, location=here)
    colleague_starts(client, django_user_model, here, package)
    client.force_login(op_user)

    response = client.post(action_url(package, "start_preparing"), {"version": 1}, follow=True)

    [message] = warnings_of(response)
    assert message == ("Someone else changed this package (user:carl: Start Preparing): "
                       "it is now In Progress. Nothing was done a second time.")
