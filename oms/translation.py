"""Operator-facing texts are translated (``gettext_lazy``); what the API, the events and the
webhooks publish is not: those read a label through ``untranslated``."""

from django.utils import translation


def untranslated(text) -> str:
    """Return ``text`` (a ``gettext_lazy`` string or a plain one) as its English source,
    whatever language is active. With no language or English active (API requests, tasks,
    imports) the text is already its source: no switch of the active translation, which
    costs more than the lookup when events are built for thousands of packages."""
    language = translation.get_language()
    if language is None or language == "en" or language.startswith("en-"):
        return str(text)
    with translation.override(None):
        return str(text)
