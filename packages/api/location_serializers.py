"""Stock location API output with the location's package and transfer counts by state."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from locations.models import StockLocation
from packages.models import Status as PackageStatus
from transfers.models import Status as TransferStatus


def _counts_serializer(name: str, slugs: list[str], doc: str) -> type[serializers.Serializer]:
    fields = {slug: serializers.IntegerField(min_value=0) for slug in slugs}
    return type(name, (serializers.Serializer,), {**fields, "__doc__": doc, "__module__": __name__})


PackageCountsSerializer = _counts_serializer(
    "PackageCountsSerializer", [s.slug for s in PackageStatus],
    "Packages at the location in each of the 17 states, by slug.")
TransferCountsSerializer = _counts_serializer(
    "TransferCountsSerializer", list(TransferStatus.values),
    "Transfers in each of the 6 states, by slug.")


class TransferDirectionsSerializer(serializers.Serializer):
    """Transfer counts by state, outgoing (source) and incoming (destination) apart."""

    outgoing = TransferCountsSerializer(help_text="The location is the source.")
    incoming = TransferCountsSerializer(help_text="The location is the destination.")


class MovementsSerializer(serializers.Serializer):
    """``{"packages": {slug: n}, "blocked_packages": n, "transfers": {"outgoing": {slug: n},
    "incoming": {slug: n}}}``."""

    packages = PackageCountsSerializer()
    blocked_packages = serializers.IntegerField(
        min_value=0, help_text="Blocked packages at the location, in any state (also counted above).")
    transfers = TransferDirectionsSerializer()


class LocationOutputSerializer(serializers.Serializer):
    """A stock location with its movement counts (``context["movements"]``: ``{id: counts}``)."""

    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField()
    region = serializers.CharField()
    postcode = serializers.CharField()
    time_zone = serializers.CharField(
        help_text="IANA time zone name (e.g. America/Sao_Paulo) the operator screens show the "
                  "location's times in; API times stay UTC.")
    kind = serializers.ChoiceField(choices=StockLocation.Kind.choices)
    is_active = serializers.BooleanField()
    can_package = serializers.BooleanField()
    is_pickup_point = serializers.BooleanField()
    priority = serializers.IntegerField(help_text="Planning rules ranking by priority prefer higher values.")
    open_packages = serializers.IntegerField(
        min_value=0, help_text="Open packages here now (Pending, In Progress, Pending Transfer, "
                               "Ready to Packaging, Pending Cancellation).")
    max_open_packages = serializers.IntegerField(
        min_value=0, allow_null=True,
        help_text="Capacity: the most open packages it may hold (null: no limit).")
    movements = serializers.SerializerMethodField()

    @extend_schema_field(MovementsSerializer)
    def get_movements(self, location) -> dict:
        return self.context["movements"][location.pk]
