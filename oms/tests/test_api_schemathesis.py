"""schemathesis against the generated OpenAPI schema: zero 5xx, no schema violations.

Requests are generated from the schema ``/api/schema/`` serves (valid and invalid data,
NUL characters included), ``EXAMPLES_PER_OPERATION`` per operation, and sent in-process to
the WSGI app (this test's database transaction) with a read-write token; half of the
requests that name a package or transfer name a real one, so the services run. Checks: no
5xx, every status code documented, content type, response headers and bodies match the
schema, and schema-invalid input is refused.

Skipped with a reason when schemathesis is not installed.
"""

import json

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

from django.core import signals  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from drf_spectacular.generators import SchemaGenerator  # noqa: E402
from drf_spectacular.renderers import OpenApiJsonRenderer  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from locations.models import StockLevel  # noqa: E402
from oms.api.testing import api_client  # noqa: E402
from packages.models import Status  # noqa: E402
from packages.tests.factories import DenialReasonFactory  # noqa: E402
from packages.tests.helpers import make_package  # noqa: E402
from transfers.tests.factories import make_transfer  # noqa: E402

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def keep_test_connection():
    """Stop the WSGI handler from closing the test's database connection after each request
    (it would, being inside the test's transaction), as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


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
    return {"key": client.api_key, "packages": [p.number for p in packages],
            "transfer": transfer.number, "location": packages[0].location.code,
            "sku": StockLevel.objects.filter(location=packages[0].location).first().sku.code}


def _load_schema():
    """The schema as ``/api/schema/`` serves it, generated in-process (no database needed),
    bound to the WSGI app so requests run in this process and this test's transaction."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(generated)))
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, api_data):
    """Zero 5xx and no schema violations for generated requests (valid and invalid)."""
    params = case.path_parameters or {}
    if "number" in params and hash(repr(case.body)) % 2:
        # half the time, aim at a real package / transfer so the services run
        if "/transfers/" in case.path:
            params["number"] = api_data["transfer"]
        else:
            params["number"] = api_data["packages"][hash(repr(case.query)) % len(api_data["packages"])]
    case.call_and_validate(headers={"Authorization": f"Token {api_data['key']}"}, checks=CHECKS)
