"""The Preferences page's form."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from oms.preferences.models import OperatorPreference, available_time_zones


def _time_zone_choices() -> list[tuple[str, str]]:
    return [("", _("UTC (default)"))] + [(name, name) for name in sorted(available_time_zones())]


class OperatorPreferenceForm(forms.ModelForm):
    """Language (blank: the browser's) and an IANA time zone (blank: UTC), both from lists."""

    language = forms.ChoiceField(
        label=_("Language"), required=False, choices=[("", _("Browser language"))] + list(settings.LANGUAGES)
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False, choices=_time_zone_choices)

    class Meta:
        model = OperatorPreference
        fields = ["language", "time_zone"]
