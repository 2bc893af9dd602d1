"""The logged-in operator's preferences, copied into the session at login and on each save,
so that applying them costs no query per request."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from oms.preferences.models import OperatorPreference

SESSION_KEY = "oms_preferences"


def preferences_store(session, preference: OperatorPreference | None) -> dict:
    """Write ``{"language": "tr" | "", "time_zone": "Europe/Istanbul" | ""}`` into ``session``
    (blank values for a user without a preference) and return it."""
    values = {
        "language": preference.language if preference else "",
        "time_zone": preference.time_zone if preference else "",
    }
    session[SESSION_KEY] = values
    return values


def preferences_for(request) -> dict:
    """The preferences of ``request``'s logged-in user, from the session; read from the
    database (one query) for a session opened before they were kept there."""
    values = request.session.get(SESSION_KEY)
    if values is None:
        preference = OperatorPreference.objects.filter(user=request.user).first()
        values = preferences_store(request.session, preference)
    return values


@receiver(user_logged_in, dispatch_uid="oms.preferences.session.on_login")
def _on_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        preferences_store(request.session, OperatorPreference.objects.filter(user=user).first())
