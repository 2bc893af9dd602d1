"""An integrator builds on the schema alone: a client generated from ``/api/schema/`` by
openapi-python-client (a test tool, pinned in requirements.txt) drives a package from Pending
to Delivered through the actions, reads a 409 and a 412 as typed objects and the event feed
as typed events, against the live server.

Skipped with a reason when openapi-python-client is not installed.
"""

import importlib
import json
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("openapi_python_client", reason="openapi-python-client is not installed")

from django.contrib.auth import get_user_model  # noqa: E402

from locations.models import StockLevel  # noqa: E402
from locations.tests.factories import SkuFactory, StockLocationFactory  # noqa: E402
from oms.api.testing import api_client  # noqa: E402
from packages.tests.factories import BrandFactory  # noqa: E402

PACKAGE = "oms_client"


@pytest.fixture
def generated(live_server, tmp_path):
    """The package openapi-python-client generates from the live schema, imported."""
    with urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json") as response:
        (tmp_path / "openapi.json").write_bytes(response.read())
    (tmp_path / "config.json").write_text(json.dumps(
        {"project_name_override": "oms-client", "package_name_override": PACKAGE, "post_hooks": []}))
    subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json",
                    "--config", "config.json", "--meta", "none", "--output-path", PACKAGE],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.mark.django_db(transaction=True)
def test_generated_client_delivers_a_package_and_reads_errors_and_events(generated, live_server, request):
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=3)
    brand = BrandFactory(slug="plain")
    user = get_user_model().objects.create_user("erp", is_staff=True)  # the feed: staff tokens
    key = api_client(user=user)[0].api_key
    client = generated("client").AuthenticatedClient(base_url=live_server.url, token=key)
    # Close its kept-alive connection before the server and the database go.
    request.addfinalizer(lambda: client.get_httpx_client().close())
    models = generated("models")

    def act(name, number, body, **headers):
        module = generated(f"api.package_actions.packages_action_{name}")
        return module.sync_detailed(number=number, client=client, body=body, **headers)

    body = models.PackageCreateRequest(
        order_number="ORD-1", brand=brand.slug, location=location.code,
        delivery_type=models.DeliveryTypeEnum.SHIP, items=[models.ItemInputRequest(sku=sku.code, quantity=2)])
    created = generated("api.packages.packages_create").sync_detailed(client=client, body=body)
    assert created.status_code == 201 and created.headers["Location"].endswith(f"/{created.parsed.number}/")
    package = created.parsed
    assert isinstance(package, models.PackageDetailOutput)
    assert package.status.slug == models.PackageStatusSlugEnum.PENDING
    assert models.PackageActionEnum.START_PREPARING in package.allowed_actions

    steps = [("start_preparing", models.StartPreparingRequest()),
             ("complete_packaging", models.CompletePackagingRequest()),
             ("ship", models.ShipRequest(carrier="ACME", tracking_number="TRK-1")),
             ("mark_delivered", models.MarkDeliveredRequest(reason="signed by J."))]
    for name, body in steps:
        answer = act(name, package.number, body)
        assert answer.status_code == 200, answer.content
        package = answer.parsed
        assert answer.headers["ETag"] == f'"{package.version}"'
    assert package.status.slug == models.PackageStatusSlugEnum.DELIVERED
    assert package.status.code == models.PackageStatusCodeEnum.VALUE_800
    assert [t.action for t in package.transitions][-1] == models.PackageLogActionEnum.MARK_DELIVERED

    conflict = act("ship", package.number, models.ShipRequest(carrier="ACME", tracking_number="TRK-2")).parsed
    assert isinstance(conflict, models.PackageConflictError)
    assert conflict.code == "transition_not_allowed"
    assert conflict.action == models.PackageAnyActionEnum.SHIP
    assert conflict.current_status.slug == models.PackageStatusSlugEnum.DELIVERED
    assert all(isinstance(a, models.PackageAnyActionEnum) for a in conflict.allowed_actions)

    stale = act("mark_delivered", package.number, models.MarkDeliveredRequest(), if_match='"1"').parsed
    assert isinstance(stale, models.PreconditionError)
    assert stale.current_version == package.version

    page = generated("api.events.events_list").sync(client=client, limit=100)
    assert isinstance(page, models.EventFeedPage)
    events = [e for e in page.events if isinstance(e, models.PackageFeedEvent)
              and e.payload.package.number == package.number]
    assert [e.event.type_ for e in events] == [models.PackageEventTypeEnum.PACKAGE_CREATED] + [
        models.PackageEventTypeEnum.PACKAGE_STATUS_TRANSITIONED] * 4
    assert [e.event.sequence for e in events] == [1, 2, 3, 4, 5]
    assert [e.payload.transition.to_status.slug for e in events][-1] == models.PackageStatusSlugEnum.DELIVERED
    assert events[0].payload.package.items[0].quantity == 2
