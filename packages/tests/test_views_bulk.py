"""Bulk actions from the package list: the selected rows (each at the version it showed) or
every package matching the filter, run through the API's bulk path as the operator, within
the operator's locations; the results page groups done, not allowed, changed meanwhile,
blocked and not found."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from oms.actions.actors import user_actor
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages import bulk, views
from packages.engine import package_run
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package, make_user

pytestmark = pytest.mark.django_db

BULK_URL = reverse("packages:bulk_action")
LIST_URL = reverse("packages:list")


def listed_checkboxes(client, **params) -> list[str]:
    """The values of the list page's row checkboxes (``"<version>:<number>"``), as a browser
    would post them when every row is ticked."""
    html = client.get(LIST_URL, params).content.decode()
    return re.findall(r'name="selected" value="([^"]+)"', html)


def results(response) -> dict[str, tuple[str, str, str]]:
    """``{number: (result kind, state, reason)}`` from the results page."""
    html = response.content.decode()
    rows = re.findall(
        r'<tr data-package="([^"]+)" data-result="([^"]+)">\s*<td[^>]*>.*?</td>\s*<td[^>]*>.*?</td>'
        r'\s*<td[^>]*>(.*?)</td>\s*<td class="small"[^>]*>(.*?)</td>',
        html,
        re.S,
    )
    return {number: (kind, state, reason) for number, kind, state, reason in rows}


def summary(response) -> dict[str, int]:
    html = response.content.decode()
    return {kind: int(count) for kind, count in re.findall(r'data-kind="(\w+)" data-count="(\d+)"', html)}


# --- the acceptance path --------------------------------------------------------------------


def test_fifty_selected_two_changed_meanwhile_48_done_2_refused(op_client, django_user_model, here):
    packages = [make_package(Status.PENDING, location=here, number=f"BULK-{i:03d}") for i in range(50)]
    selected = listed_checkboxes(op_client, status="pending")
    assert len(selected) == 50
    assert f"1:{packages[0].number}" in selected

    colleague = make_user(django_user_model, "carl", here)
    for package in packages[:2]:  # changed by another user while the list was open
        package_run("start_preparing", package_id=package.pk, actor=user_actor(colleague))
    transitions_before = PackageTransition.objects.count()
    events_before = OutboxEvent.objects.count()

    response = op_client.post(
        BULK_URL,
        {"action": "complete_packaging", "selected": selected, "status": "pending"},
        follow=True,
    )

    assert response.redirect_chain[-1][0].startswith("/packages/actions/results/")
    assert response.status_code == 200
    assert summary(response) == {"done": 48, "changed": 2}
    rows = results(response)
    assert [rows[p.number][0] for p in packages].count("done") == 48
    for package in packages[:2]:
        kind, state, reason = rows[package.number]
        assert (kind, state) == ("changed", "In Progress")
        assert reason.startswith("Changed meanwhile by user:carl (Start Preparing): it is now In Progress.")
        assert "Nothing was done" in reason
    assert rows[packages[2].number][:2] == ("done", "Packaging Completed")
    assert f'href="{reverse("packages:detail", args=[packages[2].number])}"' in response.content.decode()
    new_log = PackageTransition.objects.filter(action="complete_packaging")
    assert PackageTransition.objects.count() - transitions_before == 48 == new_log.count()
    assert set(new_log.values_list("actor", flat=True)) == {"user:olivia"}
    assert OutboxEvent.objects.count() - events_before == 48
    changed = Package.objects.filter(pk__in=[p.pk for p in packages[:2]])
    assert set(changed.values_list("status", flat=True)) == {Status.IN_PROGRESS}


def test_the_bulk_run_goes_through_the_api_bulk_path(op_client, here, monkeypatch):
    package = make_package(Status.PENDING, location=here)
    calls = []
    chunk = bulk.package_bulk_chunk

    def recording(action, entries, **kwargs):
        calls.append((action, list(entries)))
        return chunk(action, entries, **kwargs)

    monkeypatch.setattr(bulk, "package_bulk_chunk", recording)
    op_client.post(BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]})
    assert calls == [("start_preparing", [{"number": package.number, "version": 1}])]


# --- select all matching the filter ---------------------------------------------------------


def test_all_matching_the_filter_is_read_again_on_the_server(op_client, here, elsewhere):
    pending = [make_package(Status.PENDING, location=here) for _ in range(3)]
    busy = make_package(Status.IN_PROGRESS, location=here)
    outside = make_package(Status.PENDING, location=elsewhere)
    later = make_package(Status.PENDING, location=here)  # not on the page the operator saw

    response = op_client.post(
        BULK_URL,
        {"action": "start_preparing", "all_matching": "1", "status": "pending", "selected": ["9:IGNORED"]},
        follow=True,
    )

    assert summary(response) == {"done": 4}
    assert set(results(response)) == {p.number for p in [*pending, later]}
    assert "as it was when run" in response.content.decode()
    assert Package.objects.get(pk=busy.pk).status == Status.IN_PROGRESS
    assert Package.objects.get(pk=outside.pk).status == Status.PENDING


def test_all_matching_above_the_cap_does_nothing_and_says_why(op_client, here, monkeypatch):
    monkeypatch.setattr(views, "BULK_MAX", 2)
    packages = [make_package(Status.PENDING, location=here) for _ in range(3)]
    response = op_client.post(
        BULK_URL, {"action": "start_preparing", "all_matching": "1", "location": "HERE"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"{LIST_URL}?location=HERE"
    assert (
        "More than 2 packages match this filter; at most 2 can be acted on at once"
        in response.content.decode()
    )
    assert set(Package.objects.filter(pk__in=[p.pk for p in packages]).values_list("version", flat=True)) == {
        1
    }


def test_the_list_offers_select_all_matching_without_versions(op_client, here):
    make_package(Status.PENDING, location=here)
    html = op_client.get(LIST_URL).content.decode()
    assert 'name="all_matching"' in html and "Select all 1 matching this filter" in html
    assert "without the check that they are unchanged" in html


# --- refusals ---------------------------------------------------------------------------------


def test_a_blocked_package_is_reported_as_blocked(op_client, op_user, here):
    package = make_package(Status.PENDING, location=here)
    package = package_run("block", package_id=package.pk, actor=user_actor(op_user), reason="fraud check")
    response = op_client.post(
        BULK_URL,
        {"action": "complete_packaging", "selected": [f"{package.version}:{package.number}"]},
        follow=True,
    )
    kind, state, reason = results(response)[package.number]
    assert (kind, state) == ("blocked", "Pending · blocked: fraud check")
    assert "blocked (fraud check)" in reason
    assert Package.objects.get(pk=package.pk).version == package.version


def test_not_allowed_from_its_state_names_the_state(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    response = op_client.post(
        BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]}, follow=True
    )
    kind, state, reason = results(response)[package.number]
    assert (kind, state) == ("not_allowed", "Packaging Completed")
    assert reason == "Not allowed while it is Packaging Completed."


def test_an_action_switched_off_for_the_brand_is_not_allowed(op_client, here):
    brand = BrandFactory(slug="quiet", disabled_actions=["start_preparing"])
    package = make_package(Status.PENDING, location=here, brand=brand)
    response = op_client.post(
        BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]}, follow=True
    )
    kind, _, reason = results(response)[package.number]
    assert kind == "not_allowed" and "switched off for the package" in reason
    assert Package.objects.get(pk=package.pk).status == Status.PENDING


def test_another_locations_package_is_not_found_and_untouched(op_client, here, elsewhere):
    mine = make_package(Status.PENDING, location=here)
    other = make_package(Status.PENDING, location=elsewhere)
    response = op_client.post(
        BULK_URL,
        {"action": "start_preparing", "selected": [f"1:{other.number}", f"1:{mine.number}"]},
        follow=True,
    )
    assert summary(response) == {"done": 1, "not_found": 1}
    kind, state, reason = results(response)[other.number]
    assert (kind, state, reason) == ("not_found", "—", "No such package at your locations.")
    assert f'href="{reverse("packages:detail", args=[other.number])}"' not in response.content.decode()
    assert Package.objects.get(pk=other.pk).version == 1
    assert not PackageTransition.objects.filter(package=other).exists()


# --- input, bad posts, CSRF -----------------------------------------------------------------


def test_an_action_with_input_asks_once_for_all_packages(op_client, here):
    packages = [make_package(Status.PENDING, location=here) for _ in range(2)]
    selected = [f"1:{p.number}" for p in packages]
    form = op_client.post(BULK_URL, {"action": "block", "selected": selected})
    assert form.status_code == 200 and b'data-testid="bulk-input-form"' in form.content
    assert b'name="input-reason"' in form.content and b"autofocus" in form.content
    assert Package.objects.filter(blocked_at__isnull=False).count() == 0

    empty = op_client.post(
        BULK_URL, {"action": "block", "selected": selected, "apply": "1", "input-reason": ""}
    )
    assert empty.status_code == 400

    done = op_client.post(
        BULK_URL,
        {"action": "block", "selected": selected, "apply": "1", "input-reason": "inventory count"},
        follow=True,
    )
    assert summary(done) == {"done": 2}
    assert set(Package.objects.values_list("block_reason", flat=True)) == {"inventory count"}


def test_only_bulk_actions_that_apply_are_offered(op_client, here):
    make_package(Status.PACKAGING_COMPLETED, location=here)
    html = op_client.get(LIST_URL).content.decode()
    chooser = html.split('data-testid="bulk-action"')[1].split("</select>")[0]
    offered = re.findall(r'<option value="(\w+)">', chooser)
    assert "block" in offered and "cancel" not in offered
    assert "ship" not in offered  # a tracking number is each package's own
    assert "start_preparing" not in offered  # not from Packaging Completed


@pytest.mark.parametrize(
    "post",
    [
        {"action": "ship", "selected": ["1:X"]},  # each package's own input
        {"action": "transfers_arrived", "selected": ["1:X"]},  # the system's
        {"action": "start_preparing", "selected": ["one:X"]},
        {"action": "start_preparing"},
    ],
)
def test_bad_posts_do_nothing_and_say_so(op_client, here, post):
    package = make_package(Status.PENDING, location=here, number="X")
    response = op_client.post(BULK_URL, post, follow=True)
    assert response.redirect_chain[-1][0] == LIST_URL
    assert b"nothing was done" in response.content
    assert Package.objects.get(pk=package.pk).version == 1


def test_reloading_the_results_shows_them_again_without_running_again(op_client, here):
    packages = [make_package(Status.PENDING, location=here) for _ in range(2)]
    response = op_client.post(
        BULK_URL, {"action": "start_preparing", "all_matching": "1", "location": "HERE"}
    )
    assert response.status_code == 302
    results_url = response["Location"]
    make_package(Status.PENDING, location=here)  # matches the filter now; a re-run would start it
    for _ in range(2):
        again = op_client.get(results_url)
        assert summary(again) == {"done": 2}
    assert PackageTransition.objects.filter(action="start_preparing").count() == 2
    assert set(results(again)) == {p.number for p in packages}


def test_results_are_kept_per_session_for_the_last_few_runs(op_client, client, django_user_model, here):
    package = make_package(Status.PENDING, location=here)
    first = op_client.post(BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]})
    for _ in range(views.BULK_RUNS_KEPT):
        op_client.post(BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]})
    assert op_client.get(first["Location"]).status_code == 404
    stranger = make_user(django_user_model, "sam", here)
    other = Client()
    other.force_login(stranger)
    assert (
        other.get(
            op_client.post(BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]})[
                "Location"
            ]
        ).status_code
        == 404
    )


def test_the_bulk_form_is_csrf_protected(op_user, here):
    package = make_package(Status.PENDING, location=here)
    client = Client(enforce_csrf_checks=True)
    client.force_login(op_user)
    response = client.post(BULK_URL, {"action": "start_preparing", "selected": [f"1:{package.number}"]})
    assert response.status_code == 403
    assert Package.objects.get(pk=package.pk).version == 1
    assert 'name="csrfmiddlewaretoken"' in client.get(LIST_URL).content.decode()


def test_anonymous_is_sent_to_login(client):
    assert client.post(BULK_URL, {"action": "start_preparing"}).status_code == 302


# --- the API's bulk: an optional version per entry --------------------------------------------


def test_api_bulk_entry_version_refuses_a_package_changed_meanwhile():
    current, changed = make_package(Status.PENDING), make_package(Status.PENDING)
    client, _ = api_client()
    client.post(f"/api/v1/packages/{changed.number}/actions/start_preparing/", {}, format="json")
    response = client.post(
        "/api/v1/packages/actions/complete_packaging/",
        {"packages": [{"number": current.number, "version": 1}, {"number": changed.number, "version": 1}]},
        format="json",
    )
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["result"] == "done"
    assert second["result"] == "failed"
    assert second["error"]["code"] == "version_mismatch" and second["error"]["current_version"] == 2
    assert Package.objects.get(pk=changed.pk).status == Status.IN_PROGRESS


@pytest.mark.parametrize("version", [0, "2", None, 1.5])
def test_api_bulk_entry_version_must_be_a_positive_integer(version):
    package = make_package(Status.PENDING)
    client, _ = api_client()
    response = client.post(
        "/api/v1/packages/actions/start_preparing/",
        {"packages": [{"number": package.number, "version": version}]},
        format="json",
    )
    assert response.status_code == 400
    assert Package.objects.get(pk=package.pk).version == 1


def test_results_are_worded_in_the_language_they_are_read_in(op_client, here):
    """The session keeps codes, not sentences: a run made in English reads in Turkish after
    switching, labels, states and reasons alike."""
    package = make_package(Status.PENDING, location=here, number="BULK-TR-1")
    response = op_client.post(
        BULK_URL,
        {"action": "start_preparing", "selected": [f"{package.version}:{package.number}", "1:NO-SUCH"]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    english = op_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en")
    assert results(english)[package.number][:2] == ("done", "In Progress")
    assert results(english)["NO-SUCH"][2] == "No such package at your locations."
    turkish = op_client.get(response.url, HTTP_ACCEPT_LANGUAGE="tr")
    assert results(turkish)[package.number][:2] == ("done", "Hazırlanıyor")
    assert results(turkish)["NO-SUCH"][2] == "Lokasyonlarınızda böyle bir paket yok."
    assert "<dt>Yapıldı</dt>" in turkish.content.decode()


# --- limits, reloads, what the forms and results say ----------------------------------------------


def test_a_full_bulk_selection_with_every_other_field_fits_in_a_post(op_client, here):
    selected = [f"1:NONE-{i:04d}" for i in range(views.BULK_MAX)]
    filters = {
        "location": "HERE",
        "status": "pending",
        "blocked": "false",
        "q": "NONE",
        "order": "O-1",
        "open": "true",
        "age": "lt1h",
        "late": "false",
        "sort": "in_state",
        "page": "2",
    }
    response = op_client.post(
        BULK_URL,
        {
            "action": "block",
            "selected": selected,
            "all_matching": "",
            "apply": "1",
            "input-reason": "",
            **filters,
        },
    )
    assert response.status_code == 400 and b'data-testid="bulk-input-form"' in response.content


def test_more_fields_than_a_bulk_form_sends_is_the_sites_400_page(op_client, here):
    response = op_client.post(
        BULK_URL,
        {
            "action": "block",
            "selected": [f"1:NONE-{i}" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)],
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>Bad request</h1>" in html and 'id="scan"' in html  # in the site's layout
    assert "Nothing was done" in html


def test_reloading_the_bulk_form_goes_back_to_the_list(op_client):
    response = op_client.get(BULK_URL, follow=True)
    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Choose the packages and the action again" in response.content.decode()


def test_the_bulk_input_form_names_the_packages(op_client, here, monkeypatch):
    monkeypatch.setattr(views, "BULK_FORM_NUMBERS_SHOWN", 3)
    packages = [make_package(Status.PENDING, location=here, number=f"NAMED-{i}") for i in range(5)]
    few = op_client.post(BULK_URL, {"action": "block", "selected": [f"1:{p.number}" for p in packages[:3]]})
    listed = few.content.decode().split('data-testid="bulk-numbers"')[1].split("</p>")[0]
    assert [p.number in listed for p in packages] == [True, True, True, False, False]
    assert "more" not in listed
    many = op_client.post(BULK_URL, {"action": "block", "all_matching": "1", "location": "HERE"})
    listed = many.content.decode().split('data-testid="bulk-numbers"')[1].split("</p>")[0]
    assert sum(p.number in listed for p in packages) == 3 and "and 2 more" in listed


def test_a_bulk_block_shows_the_packages_as_blocked(op_client, op_user, here):
    package = make_package(Status.PENDING, location=here)
    selected = [f"1:{package.number}"]
    response = op_client.post(
        BULK_URL,
        {"action": "block", "selected": selected, "apply": "1", "input-reason": "stock count"},
        follow=True,
    )
    assert results(response)[package.number][:2] == ("done", "Pending · blocked: stock count")
    again = op_client.post(
        BULK_URL,
        {"action": "block", "selected": selected, "apply": "1", "input-reason": "stock count"},
        follow=True,
    )
    kind, state, reason = results(again)[package.number]
    assert (kind, state) == ("changed", "Pending · blocked: stock count")
    assert reason.startswith("Changed meanwhile by you (Block): it is now Pending · blocked: stock count.")


@pytest.mark.parametrize(
    "bad", [{"status": "bogus"}, {"age": "bogus"}, {"blocked": "yes"}, {"late": "1"}, {"open": "yes"}]
)
def test_all_matching_with_a_filter_not_understood_does_nothing(op_client, here, bad):
    packages = [make_package(Status.PENDING, location=here) for _ in range(2)]
    response = op_client.post(
        BULK_URL, {"action": "start_preparing", "all_matching": "1", **bad}, follow=True
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(LIST_URL)
    name = next(iter(bad))
    assert f"not understood: {name}" in html and "nothing was done" in html
    assert set(Package.objects.filter(pk__in=[p.pk for p in packages]).values_list("version", flat=True)) == {
        1
    }


def test_all_matching_keeps_every_filter_through_the_input_form(op_client, here):
    old = make_package(Status.PENDING, location=here, status_changed_at=timezone.now() - timedelta(hours=30))
    recent = make_package(Status.PENDING, location=here)
    filters = {"open": "true", "age": "gt24h", "late": "false", "location": "HERE"}
    form = op_client.post(BULK_URL, {"action": "block", "all_matching": "1", **filters})
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.content.decode()))
    assert {key: hidden.get(key) for key in filters} == filters
    op_client.post(BULK_URL, {**hidden, "input-reason": "aged"})
    assert list(Package.objects.filter(blocked_at__isnull=False).values_list("pk", flat=True)) == [old.pk]
    assert Package.objects.get(pk=recent.pk).blocked_at is None
