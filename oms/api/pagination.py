"""Cursor pagination for every API list: ordered by the primary key, so no row is returned
twice or skipped while rows are being added (offsets would shift; timestamps can tie)."""

from __future__ import annotations

from base64 import b64encode
from urllib import parse

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Pages of ``page_size`` rows (default 50, at most 500) in ascending ``id`` order.

    Response shape: ``{"next": url|null, "previous": url|null, "results": [...]}``; follow
    ``next`` until it is null. Rows created while paging appear on later pages. A cursor
    that is not one we issued (blank included: never the first page instead), or a
    ``page_size`` outside 1–500, answers 400 naming the parameter.
    """

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= self.max_page_size):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = (
                    f"Rows per page, 1 to {self.max_page_size} (default {self.page_size}).")
        return parameters

    def decode_cursor(self, request):
        """The ``Cursor`` of the request's ``cursor`` parameter (None without one).

        DRF's decoder skips characters that are not base64 and reads what is left, so "%",
        " " or "" decoded to no position: the first page. A cursor is valid only if it is
        exactly the encoding DRF's ``encode_cursor`` gives the cursor it decodes to, with an
        id position; else 400."""
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
        if encoded is None:
            return None
        if cursor is None or not _issued(cursor, encoded):
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor: follow the "
                                                                        "next or previous link."]})
        return cursor


def _issued(cursor, encoded: str) -> bool:
    """True if ``encoded`` is what ``CursorPagination.encode_cursor`` makes of ``cursor`` and
    its position is an id (up to 18 ASCII digits, within a bigint)."""
    position = cursor.position
    if position is None or not (position.isascii() and position.isdigit() and len(position) <= 18):
        return False
    tokens = {"o": str(cursor.offset)} if cursor.offset != 0 else {}
    if cursor.reverse:
        tokens["r"] = "1"
    tokens["p"] = position
    return b64encode(parse.urlencode(tokens).encode("ascii")).decode("ascii") == encoded
