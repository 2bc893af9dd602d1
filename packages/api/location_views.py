"""Stock location endpoints with movement counts. Scope: the token's stock locations only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from locations.api.views import visible_locations
from locations.models import StockLocation
from oms.api.errors import StrictQueryParamsMixin
from oms.api.schema import NUMBER_PATTERN
from packages.api.location_serializers import LocationOutputSerializer
from packages.location_movements import location_movement_counts


class LocationListView(StrictQueryParamsMixin, generics.ListAPIView):
    """Stock locations with their package and transfer counts by state."""

    serializer_class = LocationOutputSerializer
    queryset = StockLocation.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return visible_locations(self.request)

    @extend_schema(operation_id="locations_list", tags=["locations"],
                   summary="List stock locations with movement counts")
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        movements = location_movement_counts(location_ids=[location.pk for location in page])
        data = LocationOutputSerializer(page, many=True, context={"movements": movements}).data
        return self.get_paginated_response(data)


class LocationDetailView(StrictQueryParamsMixin, APIView):
    """One stock location with its movement counts (404 outside the scope)."""

    @extend_schema(operation_id="locations_retrieve", tags=["locations"],
                   parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH,
                                                pattern=NUMBER_PATTERN, description="Stock location code.")],
                   responses=LocationOutputSerializer)
    def get(self, request, code: str):
        location = generics.get_object_or_404(visible_locations(request), code=code)
        movements = location_movement_counts(location_ids=[location.pk])
        return Response(LocationOutputSerializer(location, context={"movements": movements}).data)
