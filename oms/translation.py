"""Operator-facing texts are translated (``gettext_lazy``); what the API, the events and the
webhooks publish is not: those read a label through ``untranslated``."""

from django.utils import translation


def untranslated(text) -> str:
    """Return ``text`` (a ``gettext_lazy`` string or a plain one) as its English source,
    whatever language is active."""
    with translation.override(None):
        return str(text)
