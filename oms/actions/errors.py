"""Domain errors. Each carries a stable ``code`` the API returns and an HTTP status."""

from __future__ import annotations

from oms.translation import untranslated


class OmsError(Exception):
    """Base of every domain error.

    Attributes:
        code: stable machine-readable string, e.g. ``"transition_not_allowed"``.
        http_status: status the API answers with (409 unless a subclass says otherwise).
        extra: JSON-safe details merged into the API error body.
        message / params: given ``params``, ``detail`` is a message template (a
            ``gettext_lazy`` string with ``%(name)s`` placeholders): ``detail`` is its English
            text filled in, ``message`` its English template (the catalogue's msgid) and
            ``params`` the JSON-safe values, for a screen to word it in its language
            (``oms.actions.messages.screen_text``). Neither is in the API body.
    """

    code = "oms_error"
    http_status = 409

    def __init__(self, detail: str, *, code: str | None = None, params: dict | None = None,
                 **extra: object) -> None:
        self.message = untranslated(detail) if params is not None else None
        self.params = params or {}
        detail = self.message % self.params if self.message is not None else str(detail)
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra

    def as_dict(self) -> dict:
        return {"code": self.code, "detail": self.detail, **self.extra}

    def as_screen_dict(self) -> dict:
        """``as_dict()`` with ``message`` and ``params`` (when it has them): what a screen
        keeps to word the error later in the language it is read in."""
        answer = self.as_dict()
        if self.message is not None:
            answer.update(message=self.message, params=self.params)
        return answer


class ActionNotAllowed(OmsError):
    """An action was asked for in a state (or brand, or delivery type) that does not allow it.

    ``extra`` carries ``current_status`` ({code, slug, label}) and ``allowed_actions``.
    """

    code = "transition_not_allowed"


class OnHold(ActionNotAllowed):
    """The row is on hold (a blocked package): it accepts only the action that releases the
    hold (``Action.releases_hold``). ``extra`` carries the hold's fields (``reason``, …),
    ``current_status`` and ``allowed_actions``."""

    code = "blocked"


class InsufficientStock(OmsError):
    """Stock at a location cannot cover what is asked.

    ``extra["shortages"]`` is a list of ``{"sku", "needed", "available"}``.
    """

    code = "insufficient_stock"


class InvalidInput(OmsError):
    """Input that passed type checks but breaks a domain rule (HTTP 400).

    ``extra["field"]`` names the offending field.
    """

    code = "invalid"
    http_status = 400
