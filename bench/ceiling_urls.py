"""URLs and view of the P1 framework ceiling (bench only; see ``bench.ceiling_settings``).

``POST /bench/ceiling/{number}/ship/`` with the API's request body (``carrier``,
``tracking_number``) runs, in one transaction on ``django.db.connection``, exactly the
raw-SQL baseline's statements for that package (``bench.actions.ship_one``: lock by number,
update, log insert, outbox insert) and answers ``200 {"number": …, "status": 700}``, or
``409 {"code": "not_allowed"}`` (rolled back) when the package is not in Packaging Completed.

No DRF, no ORM, no authentication: what is left is gunicorn, Django's request handling with
the product's middleware, JSON in and out, and the baseline's SQL through Django's cursor.
Its requests/s is the most any Django view can reach for a ship on this server, which is
what the application's P1 figure is compared with.
"""

from __future__ import annotations

import json
from functools import cache

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench import actions


@cache
def _statements() -> dict[str, str]:
    return actions.raw_statements()


@csrf_exempt
@require_POST
def ship(request: HttpRequest, number: str) -> JsonResponse:
    """Ship package ``number`` with the baseline's SQL; see the module doc for the answers."""
    body = json.loads(request.body or b"{}")
    with transaction.atomic():
        with connection.cursor() as cur:
            shipped = actions.ship_one(cur, _statements(), number,
                                       carrier=body.get("carrier") or actions.CARRIER,
                                       tracking=body.get("tracking_number"))
        if not shipped:
            transaction.set_rollback(True)
    if not shipped:
        return JsonResponse({"code": "not_allowed"}, status=409)
    return JsonResponse({"number": number, "status": 700})


urlpatterns = [path("bench/ceiling/<str:number>/ship/", ship)]
