"""Output serializers: ``PlannedOutputSerializer`` answers exactly what DRF's own field loop
answers, and ``UtcDateTimeField`` renders UTC whichever time zone is active."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from oms.api_schema import PlannedOutputSerializer, UtcDateTimeField
from packages.api.serializers import PackageDetailOutputSerializer, PackageOutputSerializer
from packages.models import Package, PackageTransition, Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def _drf(serializer, instance, monkeypatch):
    """What DRF's own ``Serializer.to_representation`` answers, nested serializers included."""
    with monkeypatch.context() as patch:
        patch.setattr(PlannedOutputSerializer, "to_representation", serializers.Serializer.to_representation)
        return serializer.to_representation(instance)


def _packages():
    packages = [make_package(state, quantities=(2, 1)) for state in Status]
    old = make_package(Status.CANCELED)
    packages.append(make_package(Status.PACKAGING_COMPLETED, replaces=old, carrier="ACME",
                                 ship_by=dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)))
    item = packages[0].items.first()
    item.unit_price, item.freight_value = Decimal("12.50"), None
    item.save()
    PackageTransition.objects.create(package=packages[0], from_status=None, to_status=100, action="create",
                                     actor="t", payload={"b": [1, "é"], "a": None})
    return Package.objects.filter(pk__in=[p.pk for p in packages]).select_related(
        "brand", "location", "replaces", "denial_reason").prefetch_related("items__sku", "transitions")


@pytest.mark.parametrize("serializer_class", [PackageOutputSerializer, PackageDetailOutputSerializer])
def test_planned_output_is_drf_output_for_packages_of_every_shape(serializer_class, monkeypatch):
    serializer = serializer_class()
    packages = list(_packages())
    planned = [serializer.to_representation(package) for package in packages]
    assert planned == [_drf(serializer, package, monkeypatch) for package in packages]
    assert {row["status"]["code"] for row in planned} == {state.value for state in Status}
    assert any(row["replaces"] for row in planned) and any(row["replaces"] is None for row in planned)


class _Thing:
    def __init__(self, **values):
        self.__dict__.update(values)

    def shout(self):
        return self.name.upper()


class _Edges(PlannedOutputSerializer):
    name = serializers.CharField()
    shout = serializers.CharField()                                  # a method: called
    parent_name = serializers.CharField(source="parent.name", allow_null=True)  # None on the way
    missing_with_default = serializers.CharField(source="nothing", default="dflt")
    missing_optional = serializers.CharField(source="nothing", required=False)  # left out
    missing_nullable = serializers.CharField(source="nothing", allow_null=True)
    when = UtcDateTimeField(allow_null=True)
    doubled = serializers.SerializerMethodField()

    def get_doubled(self, thing):
        return (thing["name"] if isinstance(thing, dict) else thing.name) * 2


def test_planned_output_keeps_drf_rules_for_the_uncommon_cases(monkeypatch):
    serializer = _Edges()
    cases = [_Thing(name="a", parent=None, when=None),
             _Thing(name="b", parent=_Thing(name="p"), when=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
             {"name": "c", "shout": "C", "parent": None, "when": None, "nothing": "n"}]  # a mapping
    for instance in cases:
        assert serializer.to_representation(instance) == _drf(serializer, instance, monkeypatch)
    assert serializer.to_representation(cases[1]) == {
        "name": "b", "shout": "B", "parent_name": "p", "missing_with_default": "dflt",
        "missing_nullable": None, "when": "2026-01-02T03:04:05Z", "doubled": "bb"}

    class Strict(PlannedOutputSerializer):
        nothing = serializers.CharField()

    with pytest.raises(AttributeError, match="Got AttributeError when attempting to get a value for field"):
        Strict().to_representation(cases[0])


def test_a_related_object_that_does_not_exist_reads_as_none():
    package = make_package(Status.PACKAGING_COMPLETED)  # no replacement package

    class Replacement(PlannedOutputSerializer):
        replacement = serializers.CharField(source="replacement.number", allow_null=False)

    assert Replacement().to_representation(package) == {"replacement": None}


def test_answers_are_in_utc_whichever_time_zone_is_active():
    when = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    with timezone.override("America/Sao_Paulo"):
        assert UtcDateTimeField().to_representation(when) == "2026-11-30T12:00:00Z"
        assert serializers.DateTimeField().to_representation(when) == "2026-11-30T09:00:00-03:00"


def test_input_fields_are_the_instance_own_and_validate_as_declared():
    from oms.api_schema import StrictCharField, StrictInputSerializer

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
