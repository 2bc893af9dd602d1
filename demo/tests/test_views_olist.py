"""Acceptance on the demo data (the Olist sample of ``$OLIST_DIR``, else the generated data in
its shape): the Package Location Movements dashboard renders every working location
(paginated) and every count on it equals a direct database count."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from django.db.models import Count
from django.urls import reverse

from demo.olist_import import olist_import
from demo.scenario import demo_run
from packages.models import Package, Status
from packages.selectors import MOVEMENT_STATES
from transfers.models import Transfer

CARD = re.compile(r'<article class="card" data-location="([^"]+)">(.*?)</article>', re.S)
COUNT = re.compile(r'data-status="(\w+)" data-count="(\d+)"')

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _walk(client, url: str) -> dict[str, dict[str, int]]:
    """Follow every page of a dashboard; return ``{location_code: {status: count}}``."""
    cards, page = {}, 1
    while True:
        response = client.get(url, {"page": page})
        assert response.status_code == 200
        for code, body in CARD.findall(response.content.decode()):
            assert code not in cards, f"{code} on two pages"
            cards[code] = body
        if not response.context["page_obj"].has_next():
            return cards
        page += 1


def test_dashboards_on_olist_demo_data_match_direct_counts(client, django_user_model, capsys, olist_files):
    started = time.monotonic()
    olist_import(directory=olist_files)
    imported_at = Package.objects.values("location").distinct().count()
    demo_run()
    client.force_login(django_user_model.objects.create_user("boss", is_staff=True))
    prepared = time.monotonic()

    # Package Location Movements: one card per working location (any package), all pages.
    cards = _walk(client, reverse("packages:movements"))
    working = set(Package.objects.values_list("location__code", flat=True).distinct())
    assert len(working) >= imported_at > 100  # the demo moves a few packages on
    assert set(cards) == working and len(cards) == len(working)
    direct = Counter({(code, status): n for code, status, n in Package.objects.filter(
        status__in=list(MOVEMENT_STATES)).values_list("location__code", "status").annotate(n=Count("pk"))})
    shown = {(code, int(status)): int(n) for code, body in cards.items() for status, n in COUNT.findall(body)}
    assert len(shown) == 4 * len(working)
    assert {key: n for key, n in shown.items() if n} == dict(direct)
    busiest = max(working, key=lambda code: shown[(code, Status.PENDING)])
    for status in MOVEMENT_STATES:  # and one location counted the plainest way
        direct_count = Package.objects.filter(location__code=busiest, status=status).count()
        assert shown[(busiest, status)] == direct_count
    first_page = client.get(reverse("packages:movements"))
    waiting = [card["counts"][0]["count"] for card in first_page.context["cards"]]
    assert waiting == sorted(waiting, reverse=True)  # most waiting first
    totals = {t["slug"]: t["count"] for t in first_page.context["totals"]}
    assert totals == {Status(s).slug: Package.objects.filter(status=s).count() for s in MOVEMENT_STATES}

    # The location view of the busiest location: all 17 states.
    location_page = client.get(reverse("locations:detail", args=[busiest]))
    assert {c["code"]: c["count"] for c in location_page.context["package_counts"]} == {
        s: Package.objects.filter(location__code=busiest, status=s).count() for s in Status.values}

    # Transfer Location Movements: every location with a transfer, each count direct.
    transfer_cards = _walk(client, reverse("transfers:movements"))
    touched = set(Transfer.objects.values_list("source__code", flat=True)) | set(
        Transfer.objects.values_list("destination__code", flat=True))
    assert set(transfer_cards) == touched
    incoming = Counter(dict(((c, s), n) for c, s, n in Transfer.objects.values_list(
        "destination__code", "status").annotate(n=Count("pk"))))
    outgoing = Counter(dict(((c, s), n) for c, s, n in Transfer.objects.values_list(
        "source__code", "status").annotate(n=Count("pk"))))
    for code, body in transfer_cards.items():
        parts = re.findall(r'data-direction="(\w+)">(.*?)</div>\s*</div>', body, re.S)
        for direction, part in parts:
            expected = incoming if direction == "incoming" else outgoing
            for status, n in COUNT.findall(part):
                assert int(n) == expected[(code, status)], (code, direction, status)
    with capsys.disabled():
        print(f"\n[olist dashboards] {len(cards)} package cards, {len(transfer_cards)} transfer cards; "
              f"data {prepared - started:.0f} s, checks {time.monotonic() - prepared:.1f} s")
