"""Domain errors. Each carries a stable ``code`` the API returns and an HTTP status."""

from __future__ import annotations


class OmsError(Exception):
    """Base of every domain error.

    Attributes:
        code: stable machine-readable string, e.g. ``"transition_not_allowed"``.
        http_status: status the API answers with (409 unless a subclass says otherwise).
        extra: JSON-safe details merged into the API error body.
    """

    code = "oms_error"
    http_status = 409

    def __init__(self, detail: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra

    def as_dict(self) -> dict:
        return {"code": self.code, "detail": self.detail, **self.extra}


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
