"""The one display of a moment on the operator screens (``oms.local_time``, ``{% load oms_time %}``)."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.utils import timezone

from oms.local_time import local_time_html, validate_time_zone

SAO_PAULO = SimpleNamespace(time_zone="America/Sao_Paulo")


def render(value, where=None) -> str:
    template = Template("{% load oms_time %}{{ value|local_time:where|default:'—' }}")
    return template.render(Context({"value": value, "where": where}))


def test_location_zone_shown_with_offset_and_name_and_the_utc_moment_in_the_markup():
    moment = dt.datetime(2018, 5, 3, 13, 15, tzinfo=dt.UTC)

    assert render(moment, SAO_PAULO) == (
        '<time datetime="2018-05-03T13:15:00Z" title="2018-05-03 13:15:00 UTC">'
        "2018-05-03 10:15 -03 (America/Sao_Paulo)</time>"
    )


def test_a_zone_name_works_as_the_location_and_utc_is_named_once():
    moment = dt.datetime(2018, 5, 3, 13, 15, tzinfo=dt.UTC)

    assert ">2018-05-03 13:15 UTC</time>" in render(moment, "UTC")
    assert ">2018-05-03 22:15 JST (Asia/Tokyo)</time>" in render(moment, "Asia/Tokyo")


def test_without_a_location_the_current_time_zone_is_used():
    moment = dt.datetime(2018, 5, 3, 13, 15, tzinfo=dt.UTC)

    with timezone.override("Asia/Tokyo"):
        assert ">2018-05-03 22:15 JST (Asia/Tokyo)</time>" in render(moment)
        assert ">2018-05-03 22:15 JST (Asia/Tokyo)</time>" in render(moment, SimpleNamespace(time_zone=""))


@pytest.mark.parametrize(
    ("utc", "new_york", "istanbul"),
    [
        # New York springs forward at 2026-03-08 02:00 local (07:00 UTC); Istanbul keeps +03 all year.
        (dt.datetime(2026, 3, 8, 6, 59, tzinfo=dt.UTC), "2026-03-08 01:59 EST", "2026-03-08 09:59 +03"),
        (dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC), "2026-03-08 03:00 EDT", "2026-03-08 10:00 +03"),
        # and falls back at 2026-11-01 02:00 local (06:00 UTC): 01:30 happens twice.
        (dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC), "2026-11-01 01:30 EDT", "2026-11-01 08:30 +03"),
        (dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC), "2026-11-01 01:30 EST", "2026-11-01 09:30 +03"),
    ],
)
def test_summer_time_edges_in_a_dst_zone_and_none_in_a_dst_less_zone(utc, new_york, istanbul):
    assert f">{new_york} (America/New_York)</time>" in render(utc, "America/New_York")
    assert f">{istanbul} (Europe/Istanbul)</time>" in render(utc, "Europe/Istanbul")


def test_nothing_to_show_lets_default_apply_and_iso_strings_are_read():
    assert render(None, SAO_PAULO) == "—"
    assert render("", SAO_PAULO) == "—"
    from_iso = local_time_html("2018-05-03T13:15:00+00:00", SAO_PAULO)
    assert ">2018-05-03 10:15 -03 (America/Sao_Paulo)<" in from_iso
    assert local_time_html("not a time", SAO_PAULO) == "not a time"


def test_an_unknown_zone_name_falls_back_to_the_current_zone():
    moment = dt.datetime(2018, 5, 3, 13, 15, tzinfo=dt.UTC)

    with timezone.override("UTC"):
        assert ">2018-05-03 13:15 UTC</time>" in render(moment, SimpleNamespace(time_zone="Mars/Olympus"))


def test_validate_time_zone_accepts_iana_names_only():
    validate_time_zone("America/Sao_Paulo")
    validate_time_zone("UTC")
    for bad in ("America/Sao Paulo", "BRT", "", "../etc/passwd", "-03:00"):
        with pytest.raises(ValidationError) as raised:
            validate_time_zone(bad)
        assert raised.value.code == "invalid_time_zone"
