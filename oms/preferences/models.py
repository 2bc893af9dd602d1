"""Per-user screen preferences."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from oms import local_time


def validate_time_zone(value: str) -> None:
    """Blank, or an IANA zone name (``oms.local_time.validate_time_zone``)."""
    if value:
        local_time.validate_time_zone(value)


def available_time_zones() -> frozenset[str]:
    """The IANA names this machine knows (``oms.local_time.time_zone_names``)."""
    return local_time.time_zone_names()


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
