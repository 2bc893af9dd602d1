"""Output serializers: a missing related object reads as None, ``UtcDateTimeField`` renders
UTC whichever time zone is active; input serializers' fields are the instance's own."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework import serializers

from oms.api.schema import UtcDateTimeField
from packages.api.serializers import PackageDetailOutputSerializer
from packages.models import Package, Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def test_a_related_object_that_does_not_exist_reads_as_none():
    package = make_package(Status.PACKAGING_COMPLETED)  # no replacement package
    package = Package.objects.select_related("brand", "location", "replaces").get(pk=package.pk)
    assert PackageDetailOutputSerializer(package).data["replacement"] is None


def test_answers_are_in_utc_whichever_time_zone_is_active():
    when = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    with timezone.override("America/Sao_Paulo"):
        assert UtcDateTimeField().to_representation(when) == "2026-11-30T12:00:00Z"
        assert serializers.DateTimeField().to_representation(when) == "2026-11-30T09:00:00-03:00"


def test_input_fields_are_the_instance_own_and_validate_as_declared():
    from oms.actions.inputs import StrictInputSerializer
    from oms.api.schema import StrictCharField

    class Body(StrictInputSerializer):
        code = StrictCharField(max_length=3)
        tags = serializers.ListField(child=StrictCharField(max_length=2))

    first, second = Body(data={"code": "abc", "tags": ["x"]}), Body(data={"code": "abcd", "tags": ["xyz"]})
    assert first.fields["code"] is not second.fields["code"]
    assert first.fields["code"].parent is first and second.fields["code"].parent is second
    assert first.fields["tags"].child is not second.fields["tags"].child  # deep-copied: holds a field
    assert Body._declared_fields["code"].parent is None  # the declaration stays unbound
    assert first.is_valid() and first.validated_data == {"code": "abc", "tags": ["x"]}
    assert not second.is_valid()
    assert set(second.errors) == {"code", "tags"}
