"""Planning rules per brand (packages.planning): candidates (include, exclude, kind, capacity
left), ranking keys, transfers, the first rule that places the package wins, the default
rule, and the planning record in the API and on the package page."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.api.testing import api_client
from packages.creation import ItemInput, package_create
from packages.models import Package, PlanningRule, Status
from packages.planning import DEFAULT_RULE, GIVEN_RULE_NAME, NoLocation, planning_explanation
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from transfers.models import Transfer

pytestmark = pytest.mark.django_db

OPERATOR = Actor("user", "operator")


@pytest.fixture
def world():
    """Brand ``shop``; warehouses ``A`` (SP) and ``C`` (RJ), store ``B`` (RJ); SKUs ``x``, ``y``."""
    brand = BrandFactory(slug="shop")
    a = StockLocationFactory(code="A", region="SP", kind="warehouse")
    b = StockLocationFactory(code="B", region="RJ", kind="store")
    c = StockLocationFactory(code="C", region="RJ", kind="warehouse")
    return {"brand": brand, "A": a, "B": b, "C": c, "x": SkuFactory(code="X"), "y": SkuFactory(code="Y")}


def stock(location, sku, on_hand):
    StockLevel.objects.update_or_create(location=location, sku=sku, defaults={"on_hand": on_hand})


def rule(world, name, position=0, *, include=(), exclude=(), **fields):
    row = PlanningRule.objects.create(brand=world["brand"], name=name, position=position, **fields)
    row.include_locations.set([world[code] for code in include])
    row.exclude_locations.set([world[code] for code in exclude])
    return row


def create(world, *, skus=("x",), quantity=1, **kwargs):
    return package_create(order_number="ORD-1", brand=world["brand"], actor=OPERATOR,
                          items=[ItemInput(sku=world[s], quantity=quantity) for s in skus], **kwargs)


def verdicts(package, rule_index=0):
    return {c["location"]: c["verdict"] for c in package.planning["rules"][rule_index]["candidates"]}


# --- the default rule -------------------------------------------------------------------------

def test_default_rule_prefers_the_delivery_region_then_the_most_stock(world):
    stock(world["A"], world["x"], 9)
    stock(world["C"], world["x"], 2)
    in_rj = create(world, delivery_region="RJ")
    assert (in_rj.location, in_rj.status) == (world["C"], Status.PENDING)
    anywhere = create(world)
    assert anywhere.location == world["A"]  # no region: the most units
    record = in_rj.planning
    assert record["mode"] == "rules"
    assert record["rule"] == {"id": None, "name": DEFAULT_RULE.name}
    assert record["location"] == "C" and record["outcome"] == "pending"
    assert verdicts(in_rj) == {"C": "chosen", "A": "ranked_lower", "B": "no_stock"}


def test_default_rule_plans_transfers_to_the_best_ranked_location(world):
    stock(world["A"], world["x"], 1)
    stock(world["B"], world["y"], 1)
    package = create(world, skus=("x", "y"), delivery_region="SP")
    assert (package.location, package.status) == (world["A"], Status.PENDING_TRANSFER)
    assert Transfer.objects.get(package=package).source == world["B"]
    assert StockLevel.objects.get(location=world["A"], sku=world["x"]).reserved == 1
    assert package.planning["summary"] == (
        f'Rule "{DEFAULT_RULE.name}" chose A: transfers bring the missing units.')


def test_a_given_location_is_the_only_candidate(world):
    stock(world["A"], world["x"], 9)
    package = create(world, location=world["C"])
    assert (package.location, package.status) == (world["C"], Status.PENDING_TRANSFER)
    assert package.planning["mode"] == "location_given"
    assert package.planning["rule"]["name"] == GIVEN_RULE_NAME
    assert verdicts(package) == {"C": "chosen"}


def test_a_given_location_ignores_the_brand_rules(world):
    rule(world, "only B", include=["B"])
    stock(world["A"], world["x"], 1)
    assert create(world, location=world["A"]).location == world["A"]


# --- candidates -----------------------------------------------------------------------------

def test_include_list_limits_the_candidates(world):
    stock(world["A"], world["x"], 9)
    stock(world["C"], world["x"], 1)
    rule(world, "only C", include=["C"])
    package = create(world)
    assert package.location == world["C"]
    tried = package.planning["rules"][0]
    assert verdicts(package) == {"C": "chosen"}  # the others are no candidates of this rule
    assert tried["passed_over"] == {}


def test_exclude_list_passes_a_location_over(world):
    stock(world["A"], world["x"], 9)
    stock(world["C"], world["x"], 1)
    rule(world, "not A", exclude=["A"])
    package = create(world)
    assert package.location == world["C"]
    assert verdicts(package)["A"] == "excluded"


def test_location_kind_keeps_to_stores_or_warehouses(world):
    for code in "ABC":
        stock(world[code], world["x"], 5)
    rule(world, "stores", location_kind="store")
    package = create(world)
    assert package.location == world["B"]
    assert verdicts(package) == {"B": "chosen", "A": "wrong_kind", "C": "wrong_kind"}


def test_capacity_left_skips_full_locations_unless_the_rule_ignores_capacity(world):
    stock(world["A"], world["x"], 9)
    stock(world["C"], world["x"], 1)
    world["A"].max_open_packages = 1
    world["A"].save()
    make_package(Status.IN_PROGRESS, location=world["A"], brand=world["brand"])
    capacity = rule(world, "room only")
    package = create(world)
    assert package.location == world["C"]
    assert verdicts(package)["A"] == "full"
    assert "A is full: 1 of 1 open packages" in str(package.planning)
    capacity.requires_capacity = False
    capacity.save()
    assert create(world).location == world["A"]


@pytest.mark.parametrize("ranking, expected", [
    (["priority"], "B"),
    (["fewest_open"], "C"),
    (["stock"], "A"),
    (["same_region", "stock"], "C"),
    ([], "A"),  # no key: lowest id
])
def test_each_ranking_key_orders_the_candidates(world, ranking, expected):
    stock(world["A"], world["x"], 9)
    stock(world["B"], world["x"], 2)
    stock(world["C"], world["x"], 5)
    world["B"].priority = 5
    world["B"].save()
    for _ in range(2):
        make_package(Status.PENDING, location=world["A"], brand=world["brand"])
    make_package(Status.IN_PROGRESS, location=world["B"], brand=world["brand"])
    rule(world, "ranked", ranking=ranking)
    assert create(world, delivery_region="RJ").location == world[expected]


def test_stock_ranking_puts_whole_lines_before_units(world):
    stock(world["A"], world["x"], 50)  # many units of one line
    stock(world["C"], world["x"], 1)
    stock(world["C"], world["y"], 1)  # both lines
    rule(world, "stock", ranking=["stock"], allow_transfers=False)
    assert create(world, skus=("x", "y")).location == world["C"]


# --- rules in order ---------------------------------------------------------------------------

def test_the_next_rule_places_what_the_first_cannot(world):
    stock(world["B"], world["x"], 3)
    rule(world, "A first", 1, include=["A"], allow_transfers=False)
    rule(world, "then B", 2, include=["B"])
    package = create(world)
    assert (package.location, package.status) == (world["B"], Status.PENDING)
    record = package.planning
    assert record["rule"]["name"] == "then B"
    first, second = planning_explanation(record)["rules"]  # the English record the API gives
    assert (first["outcome"], second["outcome"]) == ("placed_nothing", "placed")
    assert first["candidates"] == [{"location": "A", "verdict": "no_stock",
                                    "detail": "short: SKU X needs 1, has 0"}]


def test_the_first_rule_that_places_the_package_wins(world):
    for code in "ABC":
        stock(world[code], world["x"], 5)
    rule(world, "later", 2, include=["C"])
    rule(world, "earlier", 1, include=["B"])
    assert create(world).location == world["B"]


def test_inactive_rules_and_rules_for_another_delivery_type_are_skipped(world):
    for code in "ABC":
        stock(world[code], world["x"], 5)
    rule(world, "off", 1, include=["A"], is_active=False)
    rule(world, "collect", 2, include=["B"], delivery_type="click_and_collect")
    rule(world, "ship", 3, include=["C"])
    package = create(world)
    assert package.location == world["C"]
    assert [(r["name"], r["outcome"]) for r in package.planning["rules"]] == [
        ("collect", "not_applicable"), ("ship", "placed")]
    collect = create(world, delivery_type=Package.DeliveryType.CLICK_AND_COLLECT)
    assert collect.location == world["B"]


def test_transfers_only_where_the_rule_allows_them(world):
    stock(world["A"], world["x"], 1)
    stock(world["C"], world["y"], 1)
    rule(world, "no transfers", 1, include=["A"], allow_transfers=False)
    rule(world, "transfers", 2, include=["A"])
    package = create(world, skus=("x", "y"))
    assert (package.location, package.status) == (world["A"], Status.PENDING_TRANSFER)
    assert package.planning["rule"]["name"] == "transfers"
    assert package.planning["rules"][0]["note"] == "transfers not allowed"


def test_nothing_placed_waits_out_of_stock_at_the_first_rules_best_candidate(world):
    stock(world["C"], world["x"], 1)
    rule(world, "A or B", include=["A", "B"], ranking=["priority"])
    world["B"].priority = 1
    world["B"].save()
    package = create(world, quantity=2)
    assert (package.location, package.status) == (world["B"], Status.PRODUCT_OUT_OF_STOCK)
    assert package.stock_shortage == "short: SKU X needs 2, has 0"
    assert package.next_stock_check_at is not None
    assert package.planning["rule"] is None
    assert "B, the best-ranked candidate of rule \"A or B\"" in package.planning["summary"]
    assert package.planning["rules"][0]["note"].startswith("transfers cannot bring the rest")
    assert not StockLevel.objects.filter(reserved__gt=0).exists()


def test_nothing_placed_waits_at_the_brands_fallback_location(world):
    rule(world, "only A", include=["A"])
    world["brand"].fallback_location = world["C"]
    world["brand"].save()
    package = create(world)
    assert (package.location, package.status) == (world["C"], Status.PRODUCT_OUT_OF_STOCK)
    assert "C, the brand's fallback location" in package.planning["summary"]


def test_no_location_at_all_is_refused_and_writes_nothing(world):
    rule(world, "none", exclude=["A", "B", "C"])
    with pytest.raises(NoLocation):
        create(world)
    assert not Package.objects.exists()


def test_rule_ranking_must_name_known_keys(world):
    from django.core.exceptions import ValidationError

    bad = PlanningRule(brand=world["brand"], name="bad", ranking=["nearest"])
    with pytest.raises(ValidationError):
        bad.full_clean()


# --- the record in the API and on the package page ------------------------------------------------

def test_api_create_without_location_lets_the_rules_choose_and_explains(world):
    stock(world["A"], world["x"], 4)
    stock(world["B"], world["x"], 4)
    rule(world, "stores first", location_kind="store")
    client, _ = api_client()
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-9", "brand": "shop", "delivery_type": "ship", "delivery_region": "RJ",
        "items": [{"sku": "X", "quantity": 1}]}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["location"] == "B"
    assert data["delivery_region"] == "RJ"
    planning = data["planning"]
    assert planning["rule"]["name"] == "stores first" and planning["location"] == "B"
    assert planning["summary"] == 'Rule "stores first" chose B: it holds every item.'
    again = client.get(f"/api/v1/packages/{data['number']}/").json()
    assert again["planning"] == planning


def test_api_rules_choose_only_among_the_token_locations(world):
    stock(world["A"], world["x"], 9)
    stock(world["C"], world["x"], 1)
    client, _ = api_client(locations=[world["C"]])
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-9", "brand": "shop", "delivery_type": "ship",
        "items": [{"sku": "X", "quantity": 1}]}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["location"] == "C"


def test_api_no_location_is_409(world):
    rule(world, "none", exclude=["A", "B", "C"])
    client, _ = api_client()
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-9", "brand": "shop", "delivery_type": "ship",
        "items": [{"sku": "X", "quantity": 1}]}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "no_location"


def test_package_page_shows_the_rule_the_location_and_the_others(world, client):
    stock(world["A"], world["x"], 9)
    stock(world["C"], world["x"], 1)
    rule(world, "not A", exclude=["A"])
    package = create(world)
    client.force_login(get_user_model().objects.create_user("ops", is_staff=True))
    page = client.get(reverse("packages:detail", args=[package.number])).content.decode()
    assert 'data-testid="planning-rule">not A<' in page
    assert 'data-testid="planning-location">C<' in page
    assert 'data-location="A" data-verdict="excluded"' in page
    assert "Rule &quot;not A&quot; chose C: it holds every item." in page


def test_package_without_a_record_shows_no_planning_panel(world, client):
    package = make_package(Status.PENDING, location=world["A"])
    client.force_login(get_user_model().objects.create_user("ops", is_staff=True))
    page = client.get(reverse("packages:detail", args=[package.number])).content.decode()
    assert 'data-testid="planning"' not in page
    response = api_client()[0].get(f"/api/v1/packages/{package.number}/")
    assert response.json()["planning"] is None


def test_reassign_records_the_new_planning(world):
    stock(world["C"], world["x"], 2)
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, location=world["A"], quantities=())
    package.items.create(sku=world["x"], quantity=1)
    from packages.engine import package_run
    package = package_run("reassign_location", package_id=package.pk, actor=OPERATOR, location_code="C")
    assert (package.location, package.status) == (world["C"], Status.PENDING)
    package.refresh_from_db()
    assert package.planning["mode"] == "location_given" and package.planning["location"] == "C"


# --- admin ------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def _rule_form(world, **changes):
    return {"brand": world["brand"].pk, "position": "1", "name": "SP stores", "is_active": "on",
            "delivery_type": "", "location_kind": "store", "requires_capacity": "on",
            "allow_transfers": "on", "include_locations": [world["B"].pk], "exclude_locations": [],
            "rank_1": "priority", "rank_2": "stock", "rank_3": "", "rank_4": "", **changes}


def test_admin_creates_a_rule_with_its_ranking_in_order(world, admin_client):
    response = admin_client.post(reverse("admin:packages_planningrule_add"), _rule_form(world))
    assert response.status_code == 302, response.content
    created = PlanningRule.objects.get()
    assert created.ranking == ["priority", "stock"]
    assert list(created.include_locations.all()) == [world["B"]]
    stock(world["B"], world["x"], 1)
    assert create(world).planning["rule"]["name"] == "SP stores"


@pytest.mark.parametrize("changes", [
    {"rank_1": "stock", "rank_2": "stock"},
    {"exclude_locations": None},  # filled below: the included location excluded too
    {"location_kind": "depot"},
])
def test_admin_refuses_a_bad_rule(world, admin_client, changes):
    if "exclude_locations" in changes:
        changes = {"exclude_locations": [world["B"].pk]}
    response = admin_client.post(reverse("admin:packages_planningrule_add"), _rule_form(world, **changes))
    assert response.status_code == 200  # the form again, with the error
    assert not PlanningRule.objects.exists()


def test_admin_brand_page_lists_its_rules(world, admin_client):
    rule(world, "first rule", 1)
    page = admin_client.get(reverse("admin:packages_brand_change", args=[world["brand"].pk]))
    assert b"first rule" in page.content


def test_brand_api_lists_the_rules_in_order_and_the_fallback_location(world, django_assert_max_num_queries):
    rule(world, "second", 2, include=["B"], ranking=["priority"])
    rule(world, "first", 1, exclude=["A"], location_kind="store")
    world["brand"].fallback_location = world["C"]
    world["brand"].save()
    BrandFactory(slug="other")
    client, _ = api_client()
    client.get("/api/v1/brands/")  # token cached
    with django_assert_max_num_queries(7):  # token, count, brands, rules, include, exclude lists
        brands = {b["slug"]: b for b in client.get("/api/v1/brands/").json()["results"]}
    shop = brands["shop"]
    assert shop["fallback_location"] == "C"
    assert [(r["name"], r["include_locations"], r["exclude_locations"], r["location_kind"])
            for r in shop["planning_rules"]] == [("first", [], ["A"], "store"), ("second", ["B"], [], "")]
    assert shop["planning_rules"][1]["ranking"] == ["priority"]
    assert (brands["other"]["fallback_location"], brands["other"]["planning_rules"]) == (None, [])
