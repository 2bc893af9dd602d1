"""Local time on the operator screens: IANA zone names and the one display of a moment.

Stored and API times stay aware UTC. A screen about one stock location shows its times in
that location's zone (``StockLocation.time_zone``); a screen spanning locations shows them
in Django's current time zone (``timezone.get_current_timezone()``, the operator's).
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html

DISPLAY_FORMAT = "%Y-%m-%d %H:%M"


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names this machine knows (``zoneinfo.available_timezones()``)."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """Raise ``ValidationError`` (code ``invalid_time_zone``) unless ``value`` is an IANA
    zone name such as ``"America/Sao_Paulo"``."""
    if value not in time_zone_names():
        raise ValidationError(
            "%(value)s is not an IANA time zone name (e.g. America/Sao_Paulo, UTC).",
            code="invalid_time_zone",
            params={"value": value},
        )


def default_location_time_zone() -> str:
    """The zone of a new stock location: ``settings.OMS_DEFAULT_LOCATION_TIME_ZONE``."""
    return settings.OMS_DEFAULT_LOCATION_TIME_ZONE


def zone_of(where=None) -> zoneinfo.ZoneInfo | dt.tzinfo:
    """Return the zone to show times in: ``where`` is a stock location (anything with a
    ``time_zone`` name), a zone name, or None / "" for Django's current time zone. An unknown
    name falls back to the current time zone."""
    name = getattr(where, "time_zone", where)
    if name and name in time_zone_names():
        return zoneinfo.ZoneInfo(name)
    return timezone.get_current_timezone()


def zone_label(moment: dt.datetime, zone) -> str:
    """``"-03 (America/Sao_Paulo)"``, ``"EDT (America/New_York)"``, ``"UTC"``: the offset
    abbreviation at ``moment`` and the IANA name (left out when the abbreviation is it)."""
    abbreviation = moment.astimezone(zone).tzname() or ""
    name = getattr(zone, "key", None) or str(zone)
    return abbreviation if abbreviation == name else f"{abbreviation} ({name})".strip()


def local_time_html(value, where=None) -> str:
    """Return ``value`` (an aware datetime, or an ISO 8601 string) for a screen, e.g.
    ``<time datetime="2018-05-03T13:15:00Z" title="2018-05-03 13:15:00 UTC">2018-05-03
    10:15 -03 (America/Sao_Paulo)</time>`` in the zone of ``where`` (see ``zone_of``).
    "" for None or "" (so ``|default`` applies); a value that is no time comes back as text."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC)
    zone = zone_of(where)
    local = value.astimezone(zone)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat().replace("+00:00", "Z"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime(DISPLAY_FORMAT),
        zone_label(value, zone),
    )
