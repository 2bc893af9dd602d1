"""Per-user screen preferences."""

import functools
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    """Refuse a name that is not an IANA time zone known to this machine (``zoneinfo``)."""
    if value and value not in available_time_zones():
        raise ValidationError(
            _("“%(value)s” is not a known time zone (e.g. Europe/Istanbul)."),
            code="invalid_time_zone",
            params={"value": value},
        )


@functools.cache
def available_time_zones() -> frozenset[str]:
    """The IANA names ``zoneinfo`` can load (read once per process)."""
    return frozenset(zoneinfo.available_timezones())


class OperatorPreference(models.Model):
    """One user's screen language and time zone; blank means the browser's language
    (Accept-Language) and the site's time zone (``settings.TIME_ZONE``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_preference"
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Blank: the browser's language."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("IANA name, e.g. Europe/Istanbul. Blank: UTC."),
    )

    class Meta:
        verbose_name = _("operator preference")
        verbose_name_plural = _("operator preferences")

    def __str__(self) -> str:
        return f"{self.user}: {self.language or '-'} {self.time_zone or '-'}"
