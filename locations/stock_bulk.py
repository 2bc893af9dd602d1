"""Set many on-hand quantities at once (ERP sync, stock counts): all rows or none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from locations.models import Sku, StockLevel, StockLocation
from locations.services import stock_level_set_quietly, stock_rose
from oms.actions.errors import InvalidInput


@dataclass(frozen=True)
class StockRow:
    """One row to apply: ``on_hand`` whole units of ``sku`` at ``location``."""

    location: StockLocation
    sku: Sku
    on_hand: int


class StockRowsRefused(InvalidInput):
    """Some rows cannot be applied; nothing was changed (HTTP 400).

    ``extra["errors"]`` maps each refused row's index (as a string) to
    ``{field: [message]}``, e.g. ``{"3": {"on_hand": ["on_hand 2 is below the 5 units …"]}}``.
    """


@transaction.atomic
def stock_levels_set_bulk(*, rows: Sequence[StockRow]) -> list[StockLevel]:
    """Set ``on_hand`` for every row as ``locations.services.stock_level_set`` does, in one
    transaction: every row is applied or none.

    Existing stock rows are locked first, in primary-key order (one query), and rows are
    applied in (location, SKU) order, so two bulk sets touching the same rows cannot
    deadlock. Rises are recorded once per location (``stock_rose``), for the re-check.
    Each (location, SKU) may appear once.

    Returns the updated ``StockLevel`` rows in input order.
    Raises:
        StockRowsRefused: a value below the reserved units (or negative), or a duplicate
            (location, SKU); lists every refused row, and nothing is changed.
    """
    errors: dict[str, dict[str, list[str]]] = {}
    seen: dict[tuple[int, int], int] = {}
    for index, row in enumerate(rows):
        key = (row.location.pk, row.sku.pk)
        if key in seen:
            errors[str(index)] = {"sku": [f"Same location and SKU as row {seen[key]}."]}
        seen.setdefault(key, index)
    if errors:
        raise StockRowsRefused(f"{len(errors)} row(s) refused; nothing was changed.", errors=errors)
    if rows:
        condition = Q()
        for location_id, sku_id in seen:
            condition |= Q(location_id=location_id, sku_id=sku_id)
        list(StockLevel.objects.select_for_update().filter(condition).order_by("pk").values_list("pk"))
    levels: dict[int, StockLevel] = {}
    risen: dict[int, list[int]] = {}
    for index, row in sorted(enumerate(rows), key=lambda pair: (pair[1].location.pk, pair[1].sku.pk)):
        try:
            with transaction.atomic():
                levels[index], rose = stock_level_set_quietly(location=row.location, sku=row.sku,
                                                              on_hand=row.on_hand)
            if rose:
                risen.setdefault(row.location.pk, []).append(row.sku.pk)
        except InvalidInput as exc:
            errors[str(index)] = {str(exc.extra.get("field", "on_hand")): [exc.detail]}
    if errors:
        ordered = dict(sorted(errors.items(), key=lambda item: int(item[0])))
        summary = "; ".join(f"row {i}: {next(iter(e.values()))[0]}" for i, e in ordered.items())
        raise StockRowsRefused(f"{len(errors)} row(s) refused; nothing was changed: {summary}",
                               errors=ordered)
    for location_id, sku_ids in sorted(risen.items()):
        stock_rose(location_id=location_id, sku_ids=sku_ids)
    return [levels[index] for index in range(len(rows))]
