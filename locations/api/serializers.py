"""Stock level API serializers (stock locations with their counts: ``packages.api.location_serializers``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from locations.stock_bulk import StockRow
from oms.actions.inputs import StrictInputSerializer
from oms.api.schema import StrictCharField, StrictIntegerField

ON_HAND_MAX = 1_000_000_000
STOCK_ROWS_MAX = 1000


class StockLevelOutputSerializer(serializers.Serializer):
    """Units of one SKU at one location; ``available = on_hand - reserved``."""

    location = serializers.CharField(source="location.code")
    sku = serializers.CharField(source="sku.code")
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    damaged = serializers.IntegerField()
    available = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="StockSetRow")
class StockSetRowInputSerializer(StrictInputSerializer):
    """``{"location": code, "sku": code, "on_hand": whole units >= 0}``."""

    location = StrictCharField(max_length=64)
    sku = StrictCharField(max_length=64)
    on_hand = StrictIntegerField(min_value=0, max_value=ON_HAND_MAX)


class StockSetOutputSerializer(serializers.Serializer):
    """``{"count": rows, "results": [stock level, … in request order]}``."""

    count = serializers.IntegerField()
    results = StockLevelOutputSerializer(many=True)


def stock_rows_parse(data, *, locations, skus) -> list:
    """Validate the body of ``POST /api/v1/stock/`` into ``StockRow`` objects.

    ``data`` must be a list of 1–``STOCK_ROWS_MAX`` rows; ``locations`` is the queryset of
    locations the client may touch (others count as unknown), ``skus`` the SKU queryset.
    Raises DRF ``ValidationError`` whose detail maps each bad row's index (a string) to its
    field errors, or ``non_field_errors`` for a body that is not such a list. 2 queries.
    """
    if not isinstance(data, list) or not 1 <= len(data) <= STOCK_ROWS_MAX:
        raise serializers.ValidationError({"non_field_errors": [
            f"Send a JSON array of 1 to {STOCK_ROWS_MAX} rows "
            '[{"location": code, "sku": code, "on_hand": int >= 0}, …].']})
    errors: dict[str, dict] = {}
    valid: dict[int, dict] = {}
    for index, row in enumerate(data):
        serializer = StockSetRowInputSerializer(data=row)
        if serializer.is_valid():
            valid[index] = serializer.validated_data
        else:
            errors[str(index)] = serializer.errors
    by_code = {loc.code: loc for loc in locations.filter(code__in={r["location"] for r in valid.values()})}
    sku_by_code = {sku.code: sku for sku in skus.filter(code__in={r["sku"] for r in valid.values()})}
    rows = []
    for index, row in valid.items():
        row_errors = {}
        if row["location"] not in by_code:
            row_errors["location"] = [f"Unknown stock location {row['location']!r}."]
        if row["sku"] not in sku_by_code:
            row_errors["sku"] = [f"Unknown SKU {row['sku']!r}."]
        if row_errors:
            errors[str(index)] = row_errors
        else:
            rows.append(StockRow(location=by_code[row["location"]], sku=sku_by_code[row["sku"]],
                                 on_hand=row["on_hand"]))
    if errors:
        raise serializers.ValidationError(dict(sorted(errors.items(), key=lambda item: int(item[0]))))
    return rows
