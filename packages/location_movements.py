"""Movement counts per stock location (the "Location Movements" dashboards, as data)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q

from packages.models import Package
from packages.models import Status as PackageStatus
from transfers.models import Status as TransferStatus
from transfers.models import Transfer


def location_movement_counts(*, location_ids: Iterable[int]) -> dict[int, dict]:
    """Return, for each id in ``location_ids``, its packages and transfers counted by state.

    Shape per location (every state present, zeros included)::

        {"packages": {"pending": 3, …17 package slugs}, "blocked_packages": 1,
         "transfers": {"outgoing": {"waiting": 1, …6 slugs}, "incoming": {…}}}

    ``blocked_packages``: its blocked packages (in any state; counted in ``packages`` too).
    Outgoing = the location is the source; incoming = the destination. 3 queries.
    """
    ids = list(location_ids)
    result = {
        location_id: {
            "packages": {s.slug: 0 for s in PackageStatus},
            "blocked_packages": 0,
            "transfers": {"outgoing": dict.fromkeys(TransferStatus.values, 0),
                          "incoming": dict.fromkeys(TransferStatus.values, 0)},
        }
        for location_id in ids
    }
    if not ids:
        return result
    rows = (Package.objects.filter(location_id__in=ids).values_list("location_id", "status")
            .annotate(n=Count("*"), blocked=Count("pk", filter=Q(blocked_at__isnull=False))).order_by())
    for location_id, status, n, blocked in rows:
        result[location_id]["packages"][PackageStatus(status).slug] = n
        result[location_id]["blocked_packages"] += blocked
    for field, direction in (("source_id", "outgoing"), ("destination_id", "incoming")):
        rows = (Transfer.objects.filter(**{f"{field}__in": ids}).values_list(field, "status")
                .annotate(n=Count("*")).order_by())
        for location_id, status, n in rows:
            result[location_id]["transfers"][direction][status] = n
    return result
