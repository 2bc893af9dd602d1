"""Apply the operator's stored language and time zone; keep the API in English."""

import zoneinfo

from django.utils import timezone, translation

from oms.preferences.session import preferences_for

API_PREFIX = "/api/"


class OperatorPreferenceMiddleware:
    """After ``LocaleMiddleware`` (browser language or the switcher's cookie) and
    ``AuthenticationMiddleware``: for a logged-in user, activate the stored language and
    time zone when set. Requests under ``/api/`` are answered in English whatever
    Accept-Language says: slugs, codes, labels and error texts of the API never change."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
            return self.get_response(request)
        time_zone = ""
        if request.user.is_authenticated:
            values = preferences_for(request)
            if values["language"]:
                translation.activate(values["language"])
                request.LANGUAGE_CODE = values["language"]
            time_zone = values["time_zone"]
        if not time_zone:
            return self.get_response(request)
        try:
            timezone.activate(zoneinfo.ZoneInfo(time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return self.get_response(request)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
