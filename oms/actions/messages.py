"""The one place a domain error is worded for an operator's screen, in the active language;
and stored sentences (``message``) worded when they are shown (``message_text``).

The API answers with the error's English ``detail``; a screen words the same error from its
``code`` and the structured parts of its body (``extra``: the action's name, the state, the
hold's reason, the shortages, …), naming states by their labels, or from
the message template and params the error was raised with (``OmsError.params``). An error
it does not know reads its English ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils import translation
from django.utils.translation import gettext as _

from oms.actions.declaration import Action
from oms.actions.errors import OmsError
from oms.translation import untranslated


def screen_text(
    error: OmsError | Mapping, *, actions: Mapping[str, Action], fields: Mapping[str, str] | None = None
) -> str:
    """Return ``error`` as one sentence in the active language.

    ``error``: the ``OmsError``, or the dict a screen kept of it (``as_screen_dict()``).
    ``actions``: the aggregate's declarations, ``{name: Action}`` (who may run the action).
    ``fields``: ``{input name: form field label}``, to name the field of an input error.
    """
    body = error.as_screen_dict() if isinstance(error, OmsError) else dict(error)
    code = body.get("code", "")
    spec = actions.get(body.get("action") or "")
    state = (body.get("current_status") or {}).get("label")
    state = _(state) if state else ""
    if code == "transition_not_allowed" and "message" not in body and state:
        return _("Not allowed while it is %(state)s.") % {"state": state}
    if code == "blocked":
        text = _("The package is blocked: nothing can be run on it until it is unblocked.")
        if body.get("reason"):
            text = _("The package is blocked (%(reason)s): nothing can be run on it until it is unblocked.")
            text %= {"reason": body["reason"]}
        return text
    if code == "not_blocked":
        return _("The package is not blocked.")
    if code == "actor_not_permitted" and spec is not None:
        who = ", ".join(_(name) for name in spec.who_names)
        return _("It may be run only by: %(who)s.") % {"who": who}
    if code == "action_disabled":
        return _("It is switched off for the package's brand.")
    if code == "delivery_type_mismatch":
        return _("It does not fit the package's delivery type.")
    if code == "transfers_not_arrived":
        return _("Transfers of this package are still open or were cancelled.")
    if code == "no_transfer_lost":
        return _("No transfer of this package was cancelled.")
    if code == "version_mismatch":
        return _("It changed meanwhile: reload the page and act again if still needed.")
    if code == "insufficient_stock":
        shortages = "; ".join(
            _("SKU %(sku)s needs %(needed)s, has %(available)s") % shortage
            for shortage in body.get("shortages") or []
        )
        if not shortages:
            return _("Not enough stock.")
        if body.get("location"):
            return _("%(location)s lacks stock: %(shortages)s.") % {
                "location": body["location"],
                "shortages": shortages,
            }
        return _("Not enough stock: %(shortages)s.") % {"shortages": shortages}
    if code == "location_full" and body.get("location"):
        return _("%(location)s is full: %(open)s of %(max)s open packages.") % {
            "location": body["location"],
            "open": body.get("open_packages"),
            "max": body.get("max_open_packages"),
        }
    field = (fields or {}).get(body.get("field") or "")
    if "message" not in body:
        text = body.get("detail", "")
    else:
        params = dict(body.get("params") or {})
        if field and params.get("field") == body.get("field"):  # the message names the field
            params["field"], field = field, ""
        text = _(body["message"]) % params
    if code == "invalid" and field:
        return _("%(field)s: %(message)s") % {"field": field, "message": text}
    return text


def message(text, **params) -> dict:
    """A sentence to store and word when shown: ``{"text": English template (the msgid of
    ``text``, a ``gettext_noop``/``gettext_lazy`` text with ``%(name)s`` placeholders),
    "params"}``. A param is a JSON-safe value, another message or a list of messages (shown
    joined by "; ")."""
    return {"text": untranslated(text), "params": params}


def message_text(stored: Mapping) -> str:
    """A stored ``message`` in the active language."""
    return _(stored["text"]) % {name: _param_text(value) for name, value in stored["params"].items()}


def message_english(stored: Mapping) -> str:
    """A stored ``message`` in English (what the API and the logs say)."""
    with translation.override(None):
        return message_text(stored)


def _param_text(value):
    if isinstance(value, Mapping) and "text" in value:
        return message_text(value)
    if isinstance(value, list):
        return "; ".join(str(_param_text(item)) for item in value)
    return value
