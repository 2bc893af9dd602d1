"""The package page's "What it waits for" panel: who and what each waiting state waits for
(``WAITS``, one declaration, matching docs/state-machine.md), the actions that answer it, and
the Attach Invoice form of Pending Invoice (derived from the action's input, run through the
engine, stale and refused clicks handled as every other action)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import translation

from locations.tests.factories import StockLocationFactory
from oms.tests.state_machine_doc import package_waits
from packages.actions import ACTIONS, WAITS
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from packages.tests.spec import PACKAGE_ACTIONS

pytestmark = pytest.mark.django_db

INVOICE = {"invoice_number": "NF-77", "invoice_date": "2026-03-02"}


@pytest.fixture
def here():
    return StockLocationFactory(code="HERE")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("stella", password="pw", is_staff=True)
    client.force_login(user)
    return client


def detail(client, package):
    return client.get(reverse("packages:detail", args=[package.number]))


def attach_url(package):
    return reverse("packages:action", args=[package.number, "attach_invoice"])


def invoice_brand(**fields):
    return BrandFactory(slug="invoiced", requires_invoice=True, **fields)


# --- the declaration --------------------------------------------------------------------------

def test_docs_table_says_what_the_code_says():
    with translation.override(None):  # a request of an earlier test may have left Turkish active
        assert package_waits() == {code: (str(wait.who), str(wait.what)) for code, wait in WAITS.items()}


@pytest.mark.parametrize("code", sorted(WAITS))
def test_each_wait_offers_only_actions_its_state_allows(code):
    wait = WAITS[code]
    for name in wait.acts:
        assert code in PACKAGE_ACTIONS[name][0], (Status(code).label, name)
        assert ACTIONS[name].may_run("staff"), name
    assert wait.form is None or (wait.form in wait.acts and ACTIONS[wait.form].asks_input)


def test_the_waiting_states_are_those_whose_next_move_is_someone_elses():
    assert set(WAITS) == {
        Status.PENDING_TRANSFER, Status.PENDING_SHIPPING_LABEL, Status.PENDING_INVOICE,
        Status.READY_FOR_PICKUP, Status.SHIPPED, Status.DELIVERY_FAILED, Status.DELIVERY_ATTEMPTED,
        Status.PENDING_CANCELLATION, Status.PRODUCT_OUT_OF_STOCK, Status.TO_BE_RESCHEDULED}


# --- the panel --------------------------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(WAITS))
def test_page_says_who_and_what_the_package_waits_for(op_client, here, code):
    delivery = (Package.DeliveryType.CLICK_AND_COLLECT if code == Status.READY_FOR_PICKUP
                else Package.DeliveryType.SHIP)
    package = make_package(code, location=here, delivery_type=delivery)
    response = detail(op_client, package)
    waiting = response.context["waiting"]
    then = WAITS[code].then_others or WAITS[code].then  # op_client may not run the wait's form
    assert (waiting["who"], waiting["what"], waiting["then"]) == (WAITS[code].who, WAITS[code].what, then)
    html = response.content.decode()
    assert 'data-testid="waits-for"' in html and "What it waits for" in html
    primary = response.context["primary"]
    offered = [a["name"] for a in waiting["actions"]] + ([waiting["form"]["name"]] if waiting["form"] else [])
    assert primary is None or primary["name"] not in offered  # the main button is not repeated
    assert set(offered) <= set(WAITS[code].acts)


@pytest.mark.parametrize("code", [Status.PENDING, Status.IN_PROGRESS, Status.PACKAGING_COMPLETED,
                                  Status.DELIVERED, Status.CANCELED])
def test_no_panel_where_the_next_move_is_the_locations_or_none(op_client, here, code):
    response = detail(op_client, make_package(code, location=here))
    assert response.context["waiting"] is None
    assert 'data-testid="waiting-reason"' not in response.content.decode()


def test_pending_cancellation_offers_the_decision_beside_the_main_button(op_client, here):
    package = make_package(Status.PENDING_CANCELLATION, location=here)
    response = detail(op_client, package)
    assert response.context["primary"]["name"] == "confirm_cancellation"
    assert [a["name"] for a in response.context["waiting"]["actions"]] == ["reject_cancellation"]
    assert "This location&#x27;s operator" in response.content.decode()


def test_out_of_stock_panel_keeps_its_recheck_times(op_client, here):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, location=here,
                           stock_shortage="short: SKU X needs 2, has 0")
    html = detail(op_client, package).content.decode()
    assert "Stock at this location (the automatic re-check)" in html and "Next automatic check" in html


# --- Attach Invoice in Pending Invoice ----------------------------------------------------------

def test_an_operator_without_staff_status_gets_no_invoice_form_and_cannot_attach(op_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand(),
                           carrier="Loggi", tracking_number="TRK1")
    response = detail(op_client, package)
    assert response.context["waiting"]["who"] and response.context["waiting"]["form"] is None
    assert "attach_invoice" not in response.content.decode()
    response = op_client.post(attach_url(package), {**INVOICE, "version": package.version}, follow=True)
    package.refresh_from_db()
    assert (package.status, package.invoice_number) == (Status.PENDING_INVOICE, "")
    assert not PackageTransition.objects.filter(package=package, action="attach_invoice").exists()
    assert any("only by: staff, integrator, system" in str(m) for m in response.context["messages"])


def test_the_staff_refusal_reads_in_the_operators_language(op_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand(),
                           carrier="Loggi", tracking_number="TRK1")
    response = op_client.post(attach_url(package), {**INVOICE, "version": package.version}, follow=True,
                              HTTP_ACCEPT_LANGUAGE="tr")
    assert [str(m) for m in response.context["messages"]] == [
        "Fatura Ekle reddedildi: Bu işlemi yalnızca şunlar çalıştırabilir: yetkili, entegratör, sistem."]


def test_pending_invoice_shows_the_attach_invoice_form_derived_from_its_input(staff_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand(),
                           carrier="Loggi", tracking_number="TRK1")
    response = detail(staff_client, package)
    form = response.context["waiting"]["form"]
    assert form["name"] == "attach_invoice" and form["url"] == attach_url(package)
    assert list(form["form"].fields) == ["invoice_number", "invoice_date", "invoice_url"]
    html = response.content.decode()
    assert 'data-testid="waiting-form"' in html and 'name="invoice_number"' in html
    assert f'name="version" value="{package.version}"' in html


def test_attaching_the_invoice_ships_the_package(staff_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand(),
                           carrier="Loggi", tracking_number="TRK1")
    response = staff_client.post(attach_url(package), {**INVOICE, "version": package.version})
    assert response.status_code == 302
    package.refresh_from_db()
    assert package.status == Status.SHIPPED and package.shipped_at is not None
    assert (package.invoice_number, package.invoice_date) == ("NF-77", dt.date(2026, 3, 2))
    log = PackageTransition.objects.get(package=package, action="attach_invoice")
    assert (log.from_status, log.to_status) == (Status.PENDING_INVOICE, Status.SHIPPED)
    assert log.actor == "user:stella"


def test_attach_invoice_with_a_stale_version_does_nothing(staff_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand(), version=3)
    response = staff_client.post(attach_url(package), {**INVOICE, "version": 2}, follow=True)
    package.refresh_from_db()
    assert (package.status, package.version, package.invoice_number) == (Status.PENDING_INVOICE, 3, "")
    assert any("changed" in str(m) for m in response.context["messages"])


def test_attach_invoice_with_bad_input_shows_the_form_again(staff_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand())
    response = staff_client.post(attach_url(package), {"invoice_number": "NF-1", "invoice_date": "not a date",
                                                     "version": package.version})
    assert response.status_code == 400 and response.context["form"].errors["invoice_date"]
    package.refresh_from_db()
    assert package.status == Status.PENDING_INVOICE and package.version == 1


def test_no_invoice_form_where_the_brand_switched_attach_invoice_off(staff_client, here):
    brand = invoice_brand(disabled_actions=["attach_invoice"])
    package = make_package(Status.PENDING_INVOICE, location=here, brand=brand)
    response = detail(staff_client, package)
    assert response.context["waiting"]["form"] is None
    assert 'data-testid="waiting-form"' not in response.content.decode()
    response = staff_client.post(attach_url(package), {**INVOICE, "version": package.version}, follow=True)
    package.refresh_from_db()
    assert package.status == Status.PENDING_INVOICE and package.invoice_number == ""
    assert any("switched off" in str(m) or "not possible" in str(m) for m in response.context["messages"])


def test_no_invoice_form_on_a_blocked_package(staff_client, here):
    package = make_package(Status.PENDING_INVOICE, location=here, brand=invoice_brand(),
                           blocked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), block_reason="audit")
    assert detail(staff_client, package).context["waiting"]["form"] is None
