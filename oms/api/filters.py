"""django-filter pieces shared by the API's list endpoints."""

from __future__ import annotations

import codecs
import datetime as dt
import json

import django_filters
from django import forms
from django.conf import settings
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.utils import json as drf_json


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
    """``DjangoFilterBackend`` whose 400 carries the form's own messages (django-filter
    re-formats each message with ``%`` (``utils.translate_validation``), which fails with a
    500 on a message quoting a value that contains ``%``), and refuses a filter sent blank
    (``?status=``, ``?sku=%20``): a client's empty variable must not widen the list to every
    row. Leave a filter out for no filter."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        blank = {name: ["Empty value: leave the parameter out for no filter."]
                 for name in filterset.filters
                 if any(not value.strip() for value in request.query_params.getlist(name))}
        if blank:
            raise ValidationError(blank)
        if not filterset.is_valid():
            raise ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        return filterset.qs


# The deepest JSON body the API reads (objects and arrays inside each other); the deepest
# it needs is 5 (a bulk body's packages' items).
JSON_MAX_DEPTH = 32


def json_depth_exceeds(data, limit: int) -> bool:
    """True if ``data`` (parsed JSON) nests objects and arrays more than ``limit`` deep
    (a scalar is depth 0, ``[]`` depth 1). Iterative: any depth is safe to check."""
    level, containers = 0, [data] if isinstance(data, (dict, list)) else []
    while containers:
        level += 1
        if level > limit:
            return True
        containers = [child for container in containers
                      for child in (container.values() if isinstance(container, dict) else container)
                      if isinstance(child, (dict, list))]
    return False


def json_has_lone_surrogate(data) -> bool:
    """True if a string of ``data`` (parsed JSON, keys included) holds a lone surrogate: a
    ``\\ud800``–``\\udfff`` escape without its pair, which no UTF-8 text (an answer
    echoing it, PostgreSQL) can hold."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _object_without_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    """``object_pairs_hook`` of the JSON decoder: the object, or ``ValueError`` naming a key
    given twice (the decoder would keep the last one silently)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {repeated!r} is given twice in one object")
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400 ``parse_error``) a body nested deeper than
    ``JSON_MAX_DEPTH``, whether Python's decoder can follow it (serializers, error rendering
    and the idempotency fingerprint then never meet a deep structure) or not (a
    ``RecursionError`` in the decoder), a body with a lone surrogate (``{"\\ud800": 1}``:
    an error echoing the key could not be encoded) and an object giving a key twice."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = drf_json.load(codecs.getreader(encoding)(stream), parse_constant=drf_json.strict_constant,
                                 object_pairs_hook=_object_without_repeated_keys)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = json_depth_exceeds(data, JSON_MAX_DEPTH)
        if too_deep:
            raise ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels.")
        if json_has_lone_surrogate(data):
            raise ParseError("JSON parse error - a \\ud800-\\udfff escape without its pair.")
        return data
