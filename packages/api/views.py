"""Package endpoints: list/create/detail, one endpoint per action, bulk actions, brands,
denial reasons and the published state machine.

Views validate input, call one service or selector and serialize; every rule (who may run
an action, from which state, stock) lives in the declarations (``packages.actions``) and the engine.
"""

from __future__ import annotations

import functools

from django.db.models import Prefetch
from django.http import Http404
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from locations.models import StockLocation
from oms.actions.declaration import WHO_NAMES
from oms.actions.engine import StaleVersion
from oms.actions.graph import fsm_actions
from oms.api.errors import StrictQueryParamsMixin, etag_for, if_match_refused, if_match_versions
from oms.api.idempotency import idempotent_bulk_chunks, idempotent_call
from oms.api.permissions import api_actor
from oms.api.schema import (
    IDEMPOTENCY_KEY_PARAMETER,
    LOCATION_HEADER,
    NUMBER_PATTERN,
    etag_header,
    if_match_parameter,
)
from oms.api.tokens import api_token_location_ids, api_token_scope
from packages.actions import ACTIONS
from packages.api.filters import PackageFilter
from packages.api.serializers import (
    ACTION_BULK_INPUT_SERIALIZERS,
    ACTION_INPUT_SERIALIZERS,
    PACKAGE_API_ACTIONS,
    BrandOutputSerializer,
    BulkOutputSerializer,
    DenialReasonOutputSerializer,
    PackageConflictErrorSerializer,
    PackageCreateInputSerializer,
    PackageDetailOutputSerializer,
    PackageOutputSerializer,
    any_action_field,
)
from packages.bulk import BULK_CHUNK_SIZE, package_bulk_chunk, package_bulk_summary
from packages.creation import package_create
from packages.engine import package_run
from packages.events import PACKAGE_STATUS_SLUGS, PACKAGE_STATUS_TRANSITIONED
from packages.models import FINAL_STATES, DenialReason, Package, PackageItem, PackageTransition, Status
from packages.selectors import brand_list, package_get, package_list

ETAG_HEADER = etag_header("package")
IF_MATCH_PARAMETER = if_match_parameter("package")
NUMBER_PARAMETER = OpenApiParameter("number", OpenApiTypes.STR, OpenApiParameter.PATH,
                                    pattern=NUMBER_PATTERN, description="Package number.")


def visible_locations(request):
    """Return the stock locations the request's token may see (a queryset)."""
    return api_token_scope(StockLocation.objects.all(), request.auth, fields=("pk",))


def visible_packages(request):
    """Return the packages the request's token may see (a queryset, not evaluated)."""
    return api_token_scope(Package.objects.all(), request.auth)


def _package_id(request, number: str) -> int:
    package_id = visible_packages(request).filter(number=number).values_list("pk", flat=True).first()
    if package_id is None:
        raise Http404
    return package_id


def _detail_response(request, number: str, *, status: int = 200, headers: dict | None = None) -> Response:
    package = package_get(number=number)
    data = PackageDetailOutputSerializer(package, context={"request": request}).data
    return Response(data, status=status, headers={"ETag": etag_for(package.version), **(headers or {})})


class PackageListCreateView(StrictQueryParamsMixin, generics.ListAPIView):
    """``GET`` lists packages in the token's scope; ``POST`` creates one."""

    serializer_class = PackageOutputSerializer
    filterset_class = PackageFilter
    queryset = Package.objects.none()  # for the schema generator; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        items = PackageItem.objects.select_related("sku").order_by("id")
        return api_token_scope(package_list(), self.request.auth).prefetch_related(
            Prefetch("items", queryset=items))

    @extend_schema(operation_id="packages_list", tags=["packages"],
                   summary="List packages (cursor-paginated by id)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="packages_create", tags=["packages"], summary="Create a package for an order",
        description="Without `location`, the brand's planning rules choose among the token's "
                    "locations (409 `no_location` when none can take it). Starts Pending when the "
                    "location has every item (reserved) and room, Pending Transfer when transfers "
                    "can bring the rest, else Product Out of Stock. `planning` in the answer says "
                    "which rule chose which location and why the others were passed over.",
        request=PackageCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER, ETAG_HEADER, LOCATION_HEADER],
        responses={201: OpenApiResponse(PackageDetailOutputSerializer, "Created")},
    )
    def post(self, request, *args, **kwargs):
        def handler() -> Response:
            serializer = PackageCreateInputSerializer(
                data=request.data, context={"locations": visible_locations(request)})
            serializer.is_valid(raise_exception=True)
            package = package_create(actor=api_actor(request), within=api_token_location_ids(request.auth),
                                     **serializer.service_kwargs())
            location = reverse("api:package-detail", kwargs={"number": package.number})
            return _detail_response(request, package.number, status=201, headers={"Location": location})

        return idempotent_call(request, handler)


class PackageDetailView(StrictQueryParamsMixin, APIView):
    """One package with items, allowed actions, log and "waiting because"."""

    @extend_schema(operation_id="packages_retrieve", tags=["packages"], summary="Get a package",
                   parameters=[NUMBER_PARAMETER, ETAG_HEADER], responses=PackageDetailOutputSerializer)
    def get(self, request, number: str):
        _package_id(request, number)
        return _detail_response(request, number)

    def http_method_not_allowed(self, request, *args, **kwargs):
        """405 (``Allow: GET, HEAD, OPTIONS``) pointing to the actions: a package changes only
        through them."""
        raise exceptions.MethodNotAllowed(request.method, detail=(
            f'Method "{request.method}" not allowed: a package changes only through its actions, '
            "POST /api/v1/packages/{number}/actions/{action}/."))


class PackageActionView(StrictQueryParamsMixin, APIView):
    """``POST /api/v1/packages/{number}/actions/{action}/``: validate the body, run the action
    through the package engine inside the token's scope (``If-Match``: only at that version),
    answer the updated package. Subclassed once per action (``action_name``,
    ``input_serializer``)."""

    action_name: str = ""
    input_serializer: type = serializers.Serializer

    def post(self, request, number: str):
        def handler() -> Response:
            locations = SimpleLazyObject(lambda: visible_locations(request))  # read if the input needs it
            serializer = self.input_serializer(data=request.data, context={"locations": locations})
            serializer.is_valid(raise_exception=True)
            try:
                package = package_run(self.action_name, number=number, packages=visible_packages(request),
                                      actor=api_actor(request), versions=if_match_versions(request),
                                      **serializer.validated_data)
            except Package.DoesNotExist:
                raise Http404 from None
            except StaleVersion as exc:
                raise if_match_refused(request, exc.extra["current_version"]) from None
            return _action_response(package)

        return idempotent_call(request, handler)


def _action_response(package: Package) -> Response:
    """Answer an action with the package the engine returned (the shape of ``GET``,
    ``PackageDetailOutputSerializer``): it comes saved with brand, location, its replacement
    known and its items; this reads its transition log (1 query) and what it lacks (the
    package it replaces, its denial reason, its transfers while it waits for them)."""
    package._prefetched_objects_cache["transitions"] = list(
        PackageTransition.objects.filter(package=package).order_by("id"))
    return Response(_package_detail_serializer().to_representation(package),
                    headers={"ETag": etag_for(package.version)})


@functools.cache
def _package_detail_serializer() -> PackageDetailOutputSerializer:
    """One ``PackageDetailOutputSerializer`` for every action's answer, in every thread: DRF
    deep-copies a serializer's declared fields each time one is made, and
    ``to_representation`` keeps no state (none of these fields reads the context)."""
    serializer = PackageDetailOutputSerializer()
    serializer.fields  # noqa: B018 - bind the fields now, not concurrently on first use
    return serializer


class PackageBulkActionView(StrictQueryParamsMixin, APIView):
    """``POST /api/v1/packages/actions/{action}/``: one action on up to 1,000 packages, through
    the package engine ``BULK_CHUNK_SIZE`` packages per transaction; 200 with a result per
    package, in request order (see ``BulkOutputSerializer``)."""

    action_name: str = ""
    input_serializer: type = serializers.Serializer

    def post(self, request):
        serializer = self.input_serializer(
            data=request.data, context={"locations": visible_locations(request)})
        serializer.is_valid(raise_exception=True)
        actor, packages = api_actor(request), visible_packages(request)

        def run_chunk(chunk: list[tuple[int, dict]]) -> list[dict]:
            return package_bulk_chunk(self.action_name, [entry for _, entry in chunk], actor=actor,
                                      packages=packages)

        def respond(outcomes: list[dict]) -> Response:
            return Response({"action": self.action_name, "summary": package_bulk_summary(outcomes),
                             "results": outcomes})

        return idempotent_bulk_chunks(request, entries=serializer.validated_data["packages"],
                                      run_chunk=run_chunk, respond=respond, chunk_size=BULK_CHUNK_SIZE)


def _action_doc(name: str) -> str:
    action = ACTIONS[name]
    effect = f" Stock: {action.stock}." if action.stock else ""
    return f"{action.label}. Who: {', '.join(action.who_names)}.\n\n{action.description}{effect}"


def _make_action_view(name: str) -> type[PackageActionView]:
    camel = "".join(part.title() for part in name.split("_"))
    def post(self, request, number: str):
        return PackageActionView.post(self, request, number)

    view = type(f"Package{camel}ActionView", (PackageActionView,), {
        "action_name": name, "input_serializer": ACTION_INPUT_SERIALIZERS[name],
        "__module__": __name__,
    })
    view.post = extend_schema(
        operation_id=f"packages_action_{name}", tags=["package actions"],
        summary=f"{ACTIONS[name].label} ({name})", description=_action_doc(name),
        request=ACTION_INPUT_SERIALIZERS[name],
        parameters=[NUMBER_PARAMETER, IDEMPOTENCY_KEY_PARAMETER, IF_MATCH_PARAMETER, ETAG_HEADER],
        responses={200: PackageDetailOutputSerializer, 409: PackageConflictErrorSerializer},
    )(post)
    return view


def _make_bulk_view(name: str) -> type[PackageBulkActionView]:
    camel = "".join(part.title() for part in name.split("_"))
    def post(self, request):
        return PackageBulkActionView.post(self, request)

    view = type(f"PackageBulk{camel}ActionView", (PackageBulkActionView,), {
        "action_name": name, "input_serializer": ACTION_BULK_INPUT_SERIALIZERS[name],
        "__module__": __name__,
    })
    view.post = extend_schema(
        operation_id=f"packages_bulk_{name}", tags=["bulk actions"],
        summary=f"{ACTIONS[name].label} on many packages ({name})",
        description=f"Up to {BULK_CHUNK_SIZE} packages at a time in one transaction; a refused "
                    "package changes nothing. Answers 200 with `done`, `not_allowed` (with the current "
                    "status), `not_found` or `failed` per package, in request order. An entry's "
                    "optional `version` acts only if the package is still at it (else `failed`, "
                    "code `version_mismatch`, with `current_version`).\n\n"
                    + _action_doc(name),
        request=ACTION_BULK_INPUT_SERIALIZERS[name], parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: BulkOutputSerializer},
    )(post)
    return view


# Only the actions an API token may run have endpoints: the system's own (transfers_arrived,
# transfer_lost) answer 404 like any other path that names no endpoint.
ACTION_VIEWS = {name: _make_action_view(name) for name in PACKAGE_API_ACTIONS}
BULK_ACTION_VIEWS = {name: _make_bulk_view(name) for name in PACKAGE_API_ACTIONS}


class BrandListView(StrictQueryParamsMixin, generics.ListAPIView):
    """Brands (sales channels) with their settings."""

    serializer_class = BrandOutputSerializer
    queryset = brand_list()

    @extend_schema(operation_id="brands_list", tags=["brands"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class BrandDetailView(StrictQueryParamsMixin, generics.RetrieveAPIView):
    """One brand by slug (404 if unknown)."""

    serializer_class = BrandOutputSerializer
    queryset = brand_list()
    lookup_field = "slug"

    @extend_schema(operation_id="brands_retrieve", tags=["brands"], parameters=[
        OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[-a-zA-Z0-9_]+$",
                         description="Brand slug.")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DenialReasonListView(StrictQueryParamsMixin, generics.ListAPIView):
    """Active reasons a location may refuse a package with (``refuse``'s ``denial_reason_id``)."""

    serializer_class = DenialReasonOutputSerializer
    queryset = DenialReason.objects.filter(is_active=True)

    @extend_schema(operation_id="denial_reasons_list", tags=["packages"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- state machine ------------------------------------------------------------------------

class PackageStateSerializer(serializers.Serializer):
    """``{"code": 100, "slug": "pending", "label": "Pending", "is_final": false}``."""

    code = serializers.ChoiceField(choices=Status.choices)
    slug = serializers.ChoiceField(choices=PACKAGE_STATUS_SLUGS)
    label = serializers.CharField()
    is_final = serializers.BooleanField()


def _status_codes(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=Status.choices), **kwargs)


class PackageMachineActionSerializer(serializers.Serializer):
    """One action: who may run it, its source and target codes, its guard conditions, and
    its endpoint (null for the system's own actions, which have none)."""

    name = any_action_field()
    label = serializers.CharField()
    who = serializers.ListField(child=serializers.ChoiceField(choices=list(WHO_NAMES.values())))
    switchable = serializers.BooleanField(help_text="Can be switched off per brand.")
    sources = _status_codes()
    targets = _status_codes()
    conditions = serializers.ListField(child=serializers.CharField())
    event = serializers.CharField(help_text="The event type it publishes (outbox, webhooks).")
    releases_hold = serializers.BooleanField(
        help_text="It releases a blocked package: the only action a blocked package accepts.")
    path = serializers.CharField(allow_null=True, help_text="The endpoint running it; null when "
                                                            "only the system runs it.")


class PackageEdgeSerializer(serializers.Serializer):
    """One (action, source code, target code) edge of the graph."""

    action = any_action_field()
    source = serializers.ChoiceField(choices=Status.choices)
    target = serializers.ChoiceField(choices=Status.choices,
                                     help_text="Equal to source for a data-only update.")


class PackageStateMachineSerializer(serializers.Serializer):
    """The package state machine as enforced: states, actions and every (source, target) edge,
    read from the django-fsm transitions of ``Package`` and ``packages.actions.ACTIONS``."""

    entity = serializers.ChoiceField(choices=["package"])
    states = PackageStateSerializer(many=True)
    actions = PackageMachineActionSerializer(many=True)
    transitions = PackageEdgeSerializer(many=True)


def package_state_machine() -> dict:
    """Return the package graph (shape: ``PackageStateMachineSerializer``)."""
    actions = fsm_actions(Package, states=Status.values, order=list(ACTIONS))
    return {
        "entity": "package",
        "states": [{"code": s.value, "slug": s.slug, "label": s.label, "is_final": s in FINAL_STATES}
                   for s in Status],
        "actions": [
            {"name": a.name, "label": ACTIONS[a.name].label if a.name in ACTIONS else a.name,
             "who": ACTIONS[a.name].who_names if a.name in ACTIONS else [],
             "switchable": ACTIONS[a.name].switchable if a.name in ACTIONS else False,
             "sources": [int(s) for s in a.sources], "targets": [int(t) for t in a.targets],
             "conditions": a.conditions,
             "event": (ACTIONS[a.name].event if a.name in ACTIONS else "") or PACKAGE_STATUS_TRANSITIONED,
             "releases_hold": ACTIONS[a.name].releases_hold if a.name in ACTIONS else False,
             "path": f"/api/v1/packages/{{number}}/actions/{a.name}/" if a.name in ACTION_VIEWS else None}
            for a in actions
        ],
        "transitions": [{"action": a.name, "source": int(s), "target": int(t)}
                        for a in actions for s, t in sorted(a.edges)],
    }


class PackageStateMachineView(StrictQueryParamsMixin, APIView):
    """``GET /api/v1/state-machines/package/`` (shape: ``PackageStateMachineSerializer``)."""

    @extend_schema(operation_id="state_machines_package", tags=["state machines"],
                   summary="The package state machine (read from the code)",
                   responses=PackageStateMachineSerializer)
    def get(self, request):
        return Response(package_state_machine())
