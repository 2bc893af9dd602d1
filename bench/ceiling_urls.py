"""URLs and view of the P1 framework ceiling (bench only; see ``bench.ceiling_settings``).

``POST /bench/ceiling/{number}/ship/`` with the API's request body (``carrier``,
``tracking_number``) and headers (``Idempotency-Key``, ``If-Match: "<version>"``) runs, on
``django.db.connection`` (prepared by psycopg after its threshold), exactly the
two statements of the raw-SQL baseline's pgbench script (``bench.actions.p1_statements``,
via ``bench.actions.ship_one``): the read inside the token's scope, then the guarded write
that updates the package and inserts its log row, outbox event and idempotency record. It
answers ``200`` with the stored answer (the API's detail shape), or ``409
{"code": "not_allowed"}`` when nothing was written. The token whose location scope applies
is named by ``X-Bench-Token-Id`` (its id; no authentication).

No DRF, no ORM, no authentication: what is left is gunicorn, Django's request handling with
the product's middleware, JSON in and out, and the baseline's SQL through Django's cursor.
Its requests/s is the most any Django view can reach for this ship on this server, which is
what the application's P1 figure is compared with.
"""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench import actions


@csrf_exempt
@require_POST
def ship(request: HttpRequest, number: str) -> HttpResponse:
    """Ship package ``number`` with the baseline's SQL; see the module doc for the answers."""
    body = json.loads(request.body or b"{}")
    if_match = int(request.headers.get("If-Match", "0").strip().strip('"') or 0)
    with connection.cursor() as cur:
        answer = actions.ship_one(
            cur, number, token_id=int(request.headers["X-Bench-Token-Id"]), if_match=if_match,
            key=request.headers["Idempotency-Key"], request_body=request.body.decode(),
            carrier=body.get("carrier") or actions.CARRIER, tracking=body.get("tracking_number"))
    if answer is None:
        return JsonResponse({"code": "not_allowed"}, status=409)
    return HttpResponse(answer, content_type="application/json", headers={"ETag": f'"{if_match + 1}"'})


urlpatterns = [path("bench/ceiling/<str:number>/ship/", ship)]
