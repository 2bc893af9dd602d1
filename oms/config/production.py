"""The start-up guard of the web processes (``oms.config.wsgi``, ``oms.config.asgi``)."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_unconfigured_start() -> None:
    """Raise ``ImproperlyConfigured`` when DEBUG is off and ``DJANGO_SECRET_KEY`` or
    ``DJANGO_ALLOWED_HOSTS`` is unset: a production process never serves with the
    development key or default hosts."""
    if not settings.DEBUG and settings.MISSING_PRODUCTION_SETTINGS:
        raise ImproperlyConfigured(
            f"{' and '.join(settings.MISSING_PRODUCTION_SETTINGS)} must be set when DJANGO_DEBUG is "
            "not true (production). For a local run use scripts/run, or set DJANGO_DEBUG=true.")
