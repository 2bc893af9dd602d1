"""The Package Location Movements reads: the cards, their count and the totals agree with
the packages counted the plainest way, for staff and operators, with and without a search
and empty locations, and the page links are the ones ``{% url %}`` built."""

from __future__ import annotations

import re

import pytest
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Package, Status
from packages.selectors import (
    LOCATION_FIGURES,
    MOVEMENT_STATES,
    location_figures_of,
    package_location_movements,
    package_movement_location_count,
    package_movement_totals,
)
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(django_user_model):
    a = StockLocationFactory(code="A-1", name="Alpha", city="Recife")
    b = StockLocationFactory(code="B 2", name="Beta", city="Natal")  # a code that needs quoting
    c = StockLocationFactory(code="C-3", name="Gamma", city="Recife")  # history only
    StockLocationFactory(code="EMPTY", name="Empty", city="Recife")
    for location, states in ((a, [100, 100, 200, 300, 400, 800, 900]), (b, [100, 400, 400, 700, 920]),
                             (c, [800, 900])):
        for status in states:
            make_package(status, location=location)
    # blocked packages in a counted state and in others (counted apart, in any state)
    for package in (Package.objects.filter(location=a, status=200).first(),
                    Package.objects.filter(location=b, status=920).first(),
                    Package.objects.filter(location=b, status=400).first()):
        Package.objects.filter(pk=package.pk).update(blocked_at=timezone.now(), block_reason="audit")
    staff = django_user_model.objects.create_user("boss", is_staff=True)
    operator = django_user_model.objects.create_user("op")
    OperatorAssignment.objects.create(user=operator, location=b)
    OperatorAssignment.objects.create(user=operator, location=c)
    return {"staff": staff, "operator": operator}


def _direct(codes: set[str]) -> dict[str, dict[int, int]]:
    """Open counts per location code, the plainest way."""
    out = {code: dict.fromkeys(MOVEMENT_STATES, 0) for code in codes}
    for code, status, n in (Package.objects.filter(location__code__in=codes, status__in=list(MOVEMENT_STATES))
                            .values_list("location__code", "status").annotate(n=Count("pk"))):
        out[code][status] = n
    return out


@pytest.mark.parametrize("who", ["staff", "operator"])
@pytest.mark.parametrize("q", ["", "recife", "B 2"])
@pytest.mark.parametrize("include_empty", [False, True])
def test_cards_count_and_totals_agree_with_direct_counts(world, who, q, include_empty):
    user = world[who]
    cards = list(package_location_movements(user=user, q=q, include_empty=include_empty))
    codes = {card.code for card in cards}
    visible = {"staff": {"A-1", "B 2", "C-3", "EMPTY"}, "operator": {"B 2", "C-3"}}[who]
    with_packages = set(Package.objects.values_list("location__code", flat=True))
    found = {"": visible, "recife": {"A-1", "C-3", "EMPTY"}, "B 2": {"B 2"}}[q] & visible
    assert codes == (found if include_empty else found & with_packages)
    assert package_movement_location_count(user=user, q=q, include_empty=include_empty) == len(cards)
    direct = _direct(codes)
    for card in cards:
        assert {code: getattr(card, name) for code, name in MOVEMENT_STATES.items()} == direct[card.code]
        assert card.open_total == sum(direct[card.code].values())
    blocked = {code: Package.objects.filter(location__code=code, blocked_at__isnull=False).count()
               for code in codes}
    assert {card.code: location_figures_of(card)["blocked"] for card in cards} == blocked
    totals = package_movement_totals(user=user, q=q, include_empty=include_empty)
    assert totals == {**{name: sum(direct[c][code] for c in codes) for code, name in MOVEMENT_STATES.items()},
                      "open_total": sum(sum(d.values()) for d in direct.values()),
                      "blocked": sum(blocked.values())}
    if "B 2" in codes:  # its Product Out of Stock and Ready to Packaging packages are blocked
        assert blocked["B 2"] == 2 and totals["blocked"] >= 2


def test_dashboard_links_are_those_of_the_url_tag(world, client):
    client.force_login(world["staff"])
    html = client.get(reverse("packages:movements")).content.decode()
    detail = reverse("locations:detail", args=["B 2"])
    assert html.count(f'href="{detail}"') == 2  # title and footer
    for status in MOVEMENT_STATES:
        assert f'href="{reverse("packages:list")}?location=B%202&amp;status={Status(status).slug}"' in html


def test_the_cards_figures_are_counted_beside_the_grouping_not_in_it(world):
    # grouped by, a correlated count would be computed for every joined package row instead
    # of once per card shown
    sql = str(package_location_movements(user=world["staff"]).query)
    group_by = sql[sql.rindex(" GROUP BY "):sql.rindex(" ORDER BY ")]
    assert "SELECT" not in group_by.upper() and not re.search(r"[ ,]\d+\b", group_by), group_by
    assert sql.upper().count("SELECT") == 1 + 1 + len(LOCATION_FIGURES)  # cards, EXISTS, figures
