"""django-filter pieces shared by the API's list endpoints."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError


class StrictIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 datetime query value, returned in UTC. Present but empty (``?since=``) is
    an error, not "no filter", so a client's blank variable does not silently widen the
    result; so is a value that cannot be expressed in UTC."""

    def clean(self, value):
        if value == "":
            raise forms.ValidationError(self.example)
        cleaned = super().clean(value)
        if cleaned is None:
            return None
        # Hand the database UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows.
        try:
            return cleaned.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(self.example) from None

    example = "Enter an ISO 8601 date and time, e.g. 2026-11-30T12:00:00Z."


class StrictIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 datetime filter that refuses an empty value (400)."""

    field_class = StrictIsoDateTimeField


class FilterBackend(DjangoFilterBackend):
    """``DjangoFilterBackend`` whose 400 carries the form's own messages. django-filter
    re-formats each message with ``%`` (``utils.translate_validation``), which fails with a
    500 on a message quoting a value that contains ``%``."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        return filterset.qs


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a body nested deeper than Python's decoder can follow
    answered as a parse error (400) instead of a ``RecursionError``."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep.") from None
