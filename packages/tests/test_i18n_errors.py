"""Refusals on the operator screens read in the operator's language, worded from the error's
code and structured body (``oms.actions.messages.screen_text``) with action and state labels,
while the API keeps answering the same English ``detail``."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from locations.models import OperatorAssignment, StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import system_actor, user_actor
from oms.actions.engine import ActorNotPermitted
from oms.actions.errors import InsufficientStock, InvalidInput, OmsError
from oms.actions.messages import screen_text
from oms.api.testing import api_client
from packages.actions import ACTIONS, WAITS
from packages.creation import ItemInput, package_create
from packages.engine import package_run
from packages.models import PlanningRule, Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import action_url, make_package
from packages.tests.test_i18n_screens import html_texts, untranslated_texts
from transfers.actions import ACTIONS as TRANSFER_ACTIONS
from transfers.models import Status as TransferStatus
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db

TR = {"HTTP_ACCEPT_LANGUAGE": "tr"}
BULK_URL = reverse("packages:bulk_action")


@pytest.fixture
def here():
    return StockLocationFactory(code="IST-01", name="Tuzla Depo")


@pytest.fixture
def op_user(django_user_model, here):
    user = django_user_model.objects.create_user("ayse", password="pw")
    OperatorAssignment.objects.create(user=user, location=here)
    return user


def flashed(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def turkish(text, *, action: str, state: int | None = None, data=()) -> None:
    """``text`` is Turkish (data aside), names the action by its Turkish label and the state
    by its Turkish label, and never by their names."""
    with translation.override("tr"):
        label = str(ACTIONS[action].label)
        state_label = str(Status(state).label) if state is not None else None
    assert untranslated_texts([text], data=["IST-01", *data]) == [], text
    assert action not in text and label in text, text
    if state_label is not None:
        assert state_label in text, text


# --- single actions -------------------------------------------------------------------------


def test_a_state_refusal_reads_in_turkish_with_the_labels(op_client, here):
    package = make_package(Status.DELIVERY_ATTEMPTED, location=here)
    response = op_client.post(
        action_url(package, "block"), {"version": package.version, "reason": "x"}, follow=True, **TR
    )
    (message,) = flashed(response)
    turkish(message, action="block", state=Status.DELIVERY_ATTEMPTED)


def test_a_hold_refusal_reads_in_turkish_with_its_reason(op_client, op_user, here):
    package = make_package(Status.IN_PROGRESS, location=here)
    package = package_run("block", package_id=package.pk, actor=user_actor(op_user), reason="denetim")
    response = op_client.post(
        action_url(package, "complete_packaging"), {"version": package.version}, follow=True, **TR
    )
    (message,) = flashed(response)
    turkish(message, action="complete_packaging", data=["denetim"])
    assert "(denetim)" in message and "bloke" in message


def test_an_input_refusal_names_the_forms_field_in_turkish(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    response = op_client.post(
        action_url(package, "ship"),
        {"version": package.version, "carrier": "Aras", "tracking_number": "TRK 1"},
        follow=True,
        **TR,
    )
    (message,) = flashed(response)
    turkish(message, action="ship")
    assert "Takip numarası: boşluksuz" in message and "tracking_number" not in message


def test_the_same_refusal_reads_in_english_for_an_english_browser(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    response = op_client.post(
        action_url(package, "ship"),
        {"version": package.version, "carrier": "Aras", "tracking_number": "TRK 1"},
        follow=True,
    )
    assert flashed(response) == [
        "Ship refused: Tracking number: tracking_number must be printable ASCII "
        "without spaces (it is printed as a barcode)"
    ]


def test_a_transfer_refusal_reads_in_turkish(client, django_user_model):
    source, destination = StockLocationFactory(code="SRC"), StockLocationFactory(code="DST")
    client.force_login(django_user_model.objects.create_user("boss", is_staff=True))
    transfer = make_transfer(
        TransferStatus.TRANSFERRED,
        source=source,
        package=make_package(Status.PENDING_TRANSFER, location=destination, quantities=()),
    )
    response = client.post(
        reverse("transfers:action", args=[transfer.number, "dispatch"]),
        {"version": transfer.version},
        follow=True,
        **TR,
    )
    (message,) = flashed(response)
    with translation.override("tr"):
        label, state = str(TRANSFER_ACTIONS["dispatch"].label), str(TransferStatus.TRANSFERRED.label)
    assert message == f"{label} reddedildi: {state} durumundayken yapılamaz."


# --- bulk results -----------------------------------------------------------------------------


def test_bulk_results_word_the_refusal_in_the_language_the_page_is_read_in(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    response = op_client.post(
        BULK_URL, {"action": "start_preparing", "selected": [f"{package.version}:{package.number}"]}, **TR
    )
    results_url = response.url
    turkish_page = op_client.get(results_url, **TR).content.decode()
    english_page = op_client.get(results_url).content.decode()
    with translation.override("tr"):
        state = str(Status.PACKAGING_COMPLETED.label)
    assert f"{state} durumundayken yapılamaz." in turkish_page
    assert "start_preparing" not in turkish_page.replace('value="start_preparing"', "")
    assert "Not allowed while it is Packaging Completed." in english_page


def test_bulk_results_name_the_forms_field_of_an_input_refusal(op_client, here):
    package = make_package(Status.TO_BE_RESCHEDULED, location=here)
    response = op_client.post(
        BULK_URL,
        {
            "action": "reassign_location",
            "selected": [f"{package.version}:{package.number}"],
            "apply": "1",
            "input-location_code": here.code,
        },
        **TR,
    )
    page = op_client.get(response.url, **TR).content.decode()
    with translation.override("tr"):
        label = str(ACTIONS["reassign_location"].input().fields["location"].label)
        label = translation.gettext(label)
    assert f"{label}: Paket zaten IST-01 lokasyonunda; başka bir lokasyon seçin" in page
    assert "choose another" not in page


# --- the API stays English --------------------------------------------------------------------


def test_the_api_409_detail_stays_english_and_identical():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    response = client.post(
        f"/api/v1/packages/{package.number}/actions/start_preparing/", {}, format="json", **TR
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "transition_not_allowed"
    assert body["detail"] == "'start_preparing' is not allowed while the package is Packaging Completed"
    assert "message" not in body and "params" not in body


def test_the_api_400_of_an_input_rule_stays_english_without_screen_parts(here):
    package = make_package(Status.TO_BE_RESCHEDULED, location=here)
    client, _ = api_client()
    response = client.post(
        f"/api/v1/packages/{package.number}/actions/reassign_location/",
        {"location": here.code},
        format="json",
        **TR,
    )
    assert response.status_code == 400
    detail = "The package is already at IST-01; choose another location"
    assert response.json() == {
        "code": "invalid",
        "field": "location",
        "detail": detail,
        "errors": {"location": [detail]},
    }


# --- screen_text ------------------------------------------------------------------------------


def test_screen_text_words_shortages_fullness_and_who_in_turkish():
    shortage = InsufficientStock(
        "Not enough stock: SKU A needs 2, has 0", shortages=[{"sku": "A-1", "needed": 2, "available": 0}]
    )
    full = OmsError(
        "IST-01 is full: 3 of 3 open packages",
        code="location_full",
        location="IST-01",
        open_packages=3,
        max_open_packages=3,
    )
    who = ActorNotPermitted(
        "'attach_invoice' (Attach Invoice) may be run only by: staff", action="attach_invoice"
    )
    with translation.override("tr"):
        assert screen_text(shortage, actions=ACTIONS) == (
            "Yeterli stok yok: SKU A-1: 2 adet gerekli, 0 adet var."
        )
        assert screen_text(full, actions=ACTIONS) == "IST-01 dolu: 3 açık paketten 3 tanesi dolu."
        assert screen_text(who, actions=ACTIONS) == (
            "Bu işlemi yalnızca şunlar çalıştırabilir: yetkili, entegratör, sistem."
        )


def test_screen_text_falls_back_to_the_english_detail_of_an_unknown_code():
    with translation.override("tr"):
        assert screen_text(OmsError("Something odd", code="odd"), actions=ACTIONS) == "Something odd"


def test_a_message_template_gives_the_english_detail_and_the_screens_words():
    error = InvalidInput(ACTIONS["ship"].label, params={}, field="tracking_number")  # any lazy text
    assert error.detail == "Ship" and error.as_dict() == {
        "code": "invalid",
        "detail": "Ship",
        "field": "tracking_number",
    }
    with translation.override("tr"):
        text = screen_text(
            error.as_screen_dict(), actions=ACTIONS, fields={"tracking_number": "Takip numarası"}
        )
        assert text == f"Takip numarası: {ACTIONS['ship'].label}"


# --- who may attach the invoice -------------------------------------------------------------


def invoiced(here):
    return make_package(
        Status.PENDING_INVOICE,
        location=here,
        carrier="Aras",
        tracking_number="TRK-1",
        brand=BrandFactory(slug="invoiced", requires_invoice=True),
    )


def test_opening_attach_invoice_without_staff_status_says_who_may_run_it(op_client, here):
    package = invoiced(here)
    response = op_client.get(action_url(package, "attach_invoice"), follow=True)
    assert flashed(response) == ["Attach Invoice may be run only by: staff, integrator, system."]
    response = op_client.get(action_url(package, "attach_invoice"), follow=True, **TR)
    assert flashed(response) == [
        "Fatura Ekle işlemini yalnızca şunlar çalıştırabilir: yetkili, entegratör, sistem."
    ]


def test_the_invoice_wait_tells_a_non_staff_operator_that_staff_can_attach_it(
    op_client, client, django_user_model, here
):
    package = invoiced(here)
    wait = WAITS[Status.PENDING_INVOICE]
    page = op_client.get(reverse("packages:detail", args=[package.number]))
    assert page.context["waiting"]["then"] == wait.then_others and page.context["waiting"]["form"] is None
    assert "A staff operator can attach it here" in page.content.decode()
    staff = django_user_model.objects.create_user("stella", is_staff=True)
    OperatorAssignment.objects.create(user=staff, location=here)
    client.force_login(staff)
    page = client.get(reverse("packages:detail", args=[package.number]))
    assert page.context["waiting"]["then"] == wait.then and page.context["waiting"]["form"] is not None


# --- the planning panel -----------------------------------------------------------------------


def planning_panel(html: str) -> str:
    return html[
        html.index('<section class="panel" id="planning"') : html.index('<section class="panel" id="items"')
    ]


def test_the_planning_panel_reads_in_turkish_and_the_api_stays_english(op_client, here):
    other = StockLocationFactory(code="IST-02", kind="store")
    sku = SkuFactory(code="X-1")
    StockLevel.objects.create(location=other, sku=sku, on_hand=1)
    brand = BrandFactory(slug="shop")
    excluded = PlanningRule.objects.create(brand=brand, name="ana kural", position=1)
    excluded.exclude_locations.set([other])
    package = package_create(
        order_number="ORD-1",
        brand=brand,
        actor=system_actor(),
        items=[ItemInput(sku=sku, quantity=1)],
        location=here,
    )
    assert package.status == Status.PENDING_TRANSFER  # the units come from IST-02
    html = op_client.get(reverse("packages:detail", args=[package.number]), **TR).content.decode()
    panel = planning_panel(html)
    assert untranslated_texts(html_texts(panel), data=["IST-01", "IST-02", "X-1", "ana kural"]) == []
    assert "IST-01 lokasyonunu çağıran verdi: eksik adetleri transferler getirir." in panel
    assert "eksik: SKU X-1: 1 adet gerekli, 0 adet var" in panel
    assert "Çağıranın verdiği lokasyon" in panel
    english = op_client.get(reverse("packages:detail", args=[package.number])).content.decode()
    assert "Location IST-01 given by the caller: transfers bring the missing units." in english
    planning = api_client()[0].get(f"/api/v1/packages/{package.number}/", **TR).json()["planning"]
    assert planning["summary"] == "Location IST-01 given by the caller: transfers bring the missing units."
    assert planning["rules"][0]["candidates"][0]["detail"] == (
        "transfers bring the missing units; short: SKU X-1 needs 1, has 0"
    )
    assert "_message" not in str(planning)


def test_the_planning_panel_words_passed_over_candidates_in_turkish(op_client, here):
    for code, kind in (("IST-02", "store"), ("IST-03", "warehouse")):
        StockLocationFactory(code=code, kind=kind)
    brand = BrandFactory(slug="shop")
    PlanningRule.objects.create(brand=brand, name="depolar", position=1, location_kind="warehouse")
    sku = SkuFactory(code="X-1")
    StockLevel.objects.create(location=here, sku=sku, on_hand=1)
    package = package_create(
        order_number="ORD-1", brand=brand, actor=system_actor(), items=[ItemInput(sku=sku, quantity=2)]
    )
    html = op_client.get(reverse("packages:detail", args=[package.number]), **TR).content.decode()
    panel = planning_panel(html)
    lowered = ["stok yok", "başka tür"]  # verdict labels in lower case ("Passed over in all")
    assert (
        untranslated_texts(html_texts(panel), data=["IST-01", "IST-02", "IST-03", "X-1", "depolar", *lowered])
        == []
    )
    assert "Mağaza; kural yalnızca Depo alır" in panel


def test_a_record_kept_before_its_messages_still_shows_its_english_sentences(op_client, here):
    package = make_package(
        Status.PENDING,
        location=here,
        planning={
            "mode": "location_given",
            "rule": {"id": None, "name": "Location given by the caller"},
            "location": "IST-01",
            "outcome": "pending",
            "summary": "Location IST-01 given by the caller: it holds every item.",
            "delivery_region": "",
            "planned_at": "2026-01-01T00:00:00+00:00",
            "rules": [],
        },
    )
    html = op_client.get(reverse("packages:detail", args=[package.number]), **TR).content.decode()
    panel = planning_panel(html)
    assert "Location IST-01 given by the caller: it holds every item." in panel
    assert "Çağıranın verdiği lokasyon" in panel
