"""Stock endpoints. Scope: the token's stock locations only.

The stock location endpoints (with package and transfer counts) live in
``packages.api.location_views``.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from locations.api.serializers import (
    STOCK_ROWS_MAX,
    StockLevelOutputSerializer,
    StockSetOutputSerializer,
    StockSetRowInputSerializer,
    stock_rows_parse,
)
from locations.models import Sku, StockLevel, StockLocation
from locations.stock_bulk import stock_levels_set_bulk
from oms.api.errors import StrictQueryParamsMixin
from oms.api.idempotency import idempotent_call
from oms.api.schema import IDEMPOTENCY_KEY_PARAMETER
from oms.api.tokens import api_token_scope


def visible_locations(request):
    """Return the stock locations in the request token's scope (a queryset)."""
    return api_token_scope(StockLocation.objects.all(), request.auth, fields=("pk",))


class StockFilter(django_filters.FilterSet):
    """Filters of ``GET /api/v1/stock/``: location code, SKU code."""

    location = django_filters.CharFilter(field_name="location__code", max_length=64,
                                         help_text="Stock location code.")
    sku = django_filters.CharFilter(field_name="sku__code", max_length=64, help_text="SKU code.")

    class Meta:
        model = StockLevel
        fields: list[str] = []


class StockView(StrictQueryParamsMixin, generics.ListAPIView):
    """``GET``: stock levels in scope; ``POST``: set on-hand quantities in bulk."""

    serializer_class = StockLevelOutputSerializer
    filterset_class = StockFilter
    queryset = StockLevel.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return api_token_scope(StockLevel.objects.select_related("location", "sku"), self.request.auth)

    @extend_schema(operation_id="stock_list", tags=["stock"],
                   summary="List stock levels (cursor-paginated by id)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="stock_set", tags=["stock"], summary="Set on-hand quantities in bulk",
        description=f"1 to {STOCK_ROWS_MAX} rows, applied in one transaction: all or none. A value "
                    "below the units reserved for open packages is refused (400, `errors` keyed "
                    "by row index). A rise triggers the re-check of out-of-stock packages.",
        request=StockSetRowInputSerializer(many=True, min_length=1, max_length=STOCK_ROWS_MAX),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: OpenApiResponse(StockSetOutputSerializer, "The updated rows, in request order.")},
    )
    def post(self, request, *args, **kwargs):
        def handler() -> Response:
            rows = stock_rows_parse(request.data, locations=visible_locations(request),
                                    skus=Sku.objects.all())
            levels = stock_levels_set_bulk(rows=rows)
            for level, row in zip(levels, rows, strict=True):
                level.location, level.sku = row.location, row.sku
            return Response({"count": len(levels),
                             "results": StockLevelOutputSerializer(levels, many=True).data})

        return idempotent_call(request, handler)
