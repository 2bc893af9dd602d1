"""schemathesis against the generated OpenAPI schema, with every check it has.

Requests are generated from the schema ``/api/schema/`` serves (its examples, its coverage
cases — boundaries, missing parameters, unlisted methods — and fuzzed valid and invalid
data), ``EXAMPLES_PER_OPERATION`` fuzzed per operation, and sent in-process to the WSGI app
(this test's database transaction) with a read-write token; half of the valid requests that
name a package or transfer name a real one, so the services run. Every built-in check runs:
no 5xx; status codes, content types, headers and bodies as documented; schema-invalid input
refused; schema-valid input accepted; missing credentials refused; undeclared methods 405
with ``Allow``.

"Schema-valid input accepted" allows, besides schemathesis' defaults (2xx, 3xx, 401, 403,
404, 409, 429), the answers that depend on state the request cannot see, as 409 does: 412
(``If-Match`` names another version) and 422 (an ``Idempotency-Key`` already used with
another body). And a 400 is taken as the right answer when every field it names is one of
``LOOKUPS``: values JSON Schema cannot judge, because they must name a row of the database
or be a cursor this API issued.

Skipped with a reason when schemathesis is not installed.
"""

import json
import re
import zlib

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

from django.core import signals  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from drf_spectacular.generators import SchemaGenerator  # noqa: E402
from drf_spectacular.renderers import OpenApiJsonRenderer  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from locations.models import StockLevel  # noqa: E402
from oms.api.testing import api_client  # noqa: E402
from packages.models import Status  # noqa: E402
from packages.tests.factories import DenialReasonFactory  # noqa: E402
from packages.tests.helpers import make_package  # noqa: E402
from transfers.tests.factories import make_transfer  # noqa: E402

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 8

# Fields of a 400 that a schema-valid request may still get, per operation ("METHOD path"
# as in the schema, or "*" for every operation): the value must name an existing row (a
# brand, a stock location, a SKU, a SKU of the package, an active denial reason), be unique
# by a key (a SKU or package listed twice), stay above what is reserved (stock), or be a
# cursor this API issued. Indices of list rows are written "N".
LOOKUPS = {
    "*": {"cursor"},
    "GET /api/v1/events/": {"after"},
    "POST /api/v1/packages/": {"brand", "location", "items"},
    "POST /api/v1/packages/{number}/actions/refuse/": {"denial_reason"},
    "POST /api/v1/packages/{number}/actions/reassign_location/": {"location"},
    "POST /api/v1/packages/{number}/actions/report_missing/": {"items"},
    "POST /api/v1/packages/{number}/actions/report_defective/": {"items"},
    "POST /api/v1/packages/{number}/actions/report_missing_items/": {"items"},
    "POST /api/v1/packages/{number}/actions/split/": {"parts"},
    "POST /api/v1/packages/actions/split/": {"packages.N.parts"},
    "POST /api/v1/packages/actions/reassign_location/": {"packages", "packages.N.location"},
    "POST /api/v1/stock/": {"N.location", "N.sku", "N.on_hand"},
}
BULK_ACTION = re.compile(r"POST /api/v1/packages/actions/\w+/")


def _looked_up(case, response) -> bool:
    """True for a 400 whose every field is one of ``LOOKUPS`` for the operation."""
    if response.status_code != 400:
        return False
    label = f"{case.method.upper()} {case.operation.path}"
    allowed = LOOKUPS["*"] | LOOKUPS.get(label, set())
    if BULK_ACTION.fullmatch(label):
        allowed = allowed | {"packages"}  # a package listed twice
    fields = {re.sub(r"(^|\.)\d+(?=\.|$)", r"\1N", name) for name in json.loads(response.content)
              .get("errors", {"": []})}
    return fields <= allowed


def positive_data_acceptance_but_lookups(ctx, response, case):
    """schemathesis' ``positive_data_acceptance``, except for the 400s of ``LOOKUPS``."""
    if _looked_up(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)


def _stable_hash(value) -> int:
    """The same number for the same value in every run (``hash`` of a str is salted per process)."""
    return zlib.crc32(repr(value).encode())


@pytest.fixture
def keep_test_connection():
    """Stop the WSGI handler from closing the test's database connection after each request
    (it would, being inside the test's transaction), as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# The credentials schemathesis puts on a case (some cases are made before the test runs);
# the test swaps in its token.
TOKEN_PLACEHOLDER = "Bearer test-token"


@pytest.fixture
def api_data(db, keep_test_connection):
    """A token and packages/transfers in several states, so generated requests that name a
    real package reach the services."""
    client, _ = api_client()
    packages = [make_package(state, quantities=(2, 1), number=f"SCH-{state}")
                for state in (Status.PENDING, Status.IN_PROGRESS, Status.PACKAGING_COMPLETED,
                              Status.SHIPPED, Status.PRODUCT_OUT_OF_STOCK, Status.PENDING_CANCELLATION)]
    transfer = make_transfer("in_transit", package=packages[-1], quantities=(1,))
    DenialReasonFactory()
    return {"key": client.api_key, "packages": [p.number for p in packages], "transfer": transfer.number,
            "location": packages[0].location.code,
            "sku": StockLevel.objects.filter(location=packages[0].location).first().sku.code}


def _load_schema():
    """The schema as ``/api/schema/`` serves it, generated in-process (no database needed),
    bound to the WSGI app so requests run in this process and this test's transaction."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429"]}}})
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(generated)),
                                            config=config)
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()


@schema.auth.auth(refresh_interval=None)
class ApiToken:
    """Credentials on every case, except where schemathesis tests a request without them."""

    def get(self, case, context):
        return TOKEN_PLACEHOLDER

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, api_data):
    """Every schemathesis check passes for generated requests (valid and invalid)."""
    if (case.headers or {}).get("Authorization") == TOKEN_PLACEHOLDER:
        case.headers["Authorization"] = f"Bearer {api_data['key']}"
    params = case.path_parameters or {}
    if "number" in params and case.meta is not None and case.meta.generation.mode.is_positive \
            and _stable_hash(case.body) % 2:
        # half the time, aim at a real package / transfer so the services run
        if "/transfers/" in case.path:
            params["number"] = api_data["transfer"]
        else:
            params["number"] = api_data["packages"][_stable_hash(case.query) % len(api_data["packages"])]
    case.call_and_validate(excluded_checks=[positive_data_acceptance],
                           additional_checks=[positive_data_acceptance_but_lookups])
