"""django-filter pieces shared by the API's list endpoints."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


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
