"""Filters of ``GET /api/v1/packages/`` (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from oms.api.filters import StrictIsoDateTimeFilter
from packages.models import Package, Status


def parse_statuses(value: str) -> list[int]:
    """Turn ``"100,shipped"`` (codes or slugs, comma-separated) into status codes.

    Raises ``ValidationError`` naming the unknown entries.
    """
    codes, unknown = [], []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part.isascii() and part.isdigit() and len(part) <= 4 and int(part) in Status.values:
            codes.append(int(part))
        elif part.upper() in Status.names and part == part.lower():
            codes.append(Status.from_slug(part).value)
        else:
            unknown.append(part)
    if unknown or not codes:
        raise ValidationError("Unknown status: %(value)s. Use codes (100) or slugs (pending), "
                              "comma-separated.", code="invalid_choice",
                              params={"value": ", ".join(unknown) or repr(value)})
    return codes


class StatusField(forms.CharField):
    """Form field cleaning ``"100,shipped"`` into a list of status codes."""

    def to_python(self, value):
        value = super().to_python(value)
        return parse_statuses(value) if value else None


class StatusFilter(django_filters.CharFilter):
    """``status=100`` or ``status=pending`` or ``status=pending,in_progress,700``."""

    field_class = StatusField
    # OpenAPI: an array of codes or slugs, sent comma-separated.
    openapi_parameter = {
        "schema": {"type": "array", "items": {"type": "string", "enum": [
            *(str(code) for code in Status.values), *(status.slug for status in Status)]}},
        "style": "form", "explode": False,
    }

    def filter(self, qs, value):
        return qs.filter(status__in=value) if value else qs


class PackageFilter(django_filters.FilterSet):
    """Every filter is optional and they combine with AND."""

    status = StatusFilter(help_text="Status codes or slugs, comma-separated (100,in_progress).")
    location = django_filters.CharFilter(field_name="location__code", max_length=64,
                                         help_text="Stock location code.")
    brand = django_filters.CharFilter(field_name="brand__slug", max_length=50, help_text="Brand slug.")
    order_number = django_filters.CharFilter(max_length=64)
    sku = django_filters.CharFilter(field_name="items__sku__code", max_length=64,
                                    help_text="Packages holding this SKU code.")
    updated_since = StrictIsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (ISO 8601).")
    ship_by_before = StrictIsoDateTimeFilter(
        field_name="ship_by", lookup_expr="lt", help_text="Ship-by strictly before (ISO 8601).")
    blocked = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_blocked",
        help_text="true: only blocked packages; false: only those not blocked.")

    def filter_blocked(self, queryset, name, value):
        return queryset.filter(blocked_at__isnull=value != "true")

    class Meta:
        model = Package
        fields: list[str] = []
