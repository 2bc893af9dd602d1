"""Cursor pagination for every API list: ordered by the primary key, so no row is returned
twice or skipped while rows are being added (offsets would shift; timestamps can tie)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Pages of ``page_size`` rows (default 50, at most 500) in ascending ``id`` order.

    Response shape: ``{"next": url|null, "previous": url|null, "results": [...]}``; follow
    ``next`` until it is null. Rows created while paging appear on later pages. A cursor
    that is not one we issued, or a ``page_size`` outside 1–500, answers 400.
    """

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
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
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or cursor.position.isdigit()
        if not valid:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return cursor
