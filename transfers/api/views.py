"""Transfer endpoints: list, detail, one endpoint per action, the published state machine.

A transfer is visible to a token when its source or its destination is in the token's
stock locations; an action runs only when the end it needs (``Action.side``: the source
prepares, dispatches and cancels, the destination receives) is. Every rule lives in the
declarations (``transfers.actions``) and the engine (``transfers.engine``); a single action
is a batch of one.
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from oms.actions.declaration import WHO_NAMES
from oms.actions.engine import StaleVersion
from oms.actions.graph import fsm_actions
from oms.api.errors import StrictQueryParamsMixin, etag_for, if_match_refused, if_match_versions
from oms.api.filters import StrictIsoDateTimeFilter
from oms.api.idempotency import idempotent_call
from oms.api.permissions import api_actor
from oms.api.schema import IDEMPOTENCY_KEY_PARAMETER, NUMBER_PATTERN, etag_header, if_match_parameter
from oms.api.tokens import api_token_location_ids, api_token_scope
from transfers.actions import ACTIONS
from transfers.api.serializers import (
    TRANSFER_ACTION_INPUT_SERIALIZERS,
    TransferConflictErrorSerializer,
    TransferDetailOutputSerializer,
    TransferOutputSerializer,
    action_field,
)
from transfers.engine import transfer_run
from transfers.models import Status, Transfer, TransferItem, TransferTransition

NUMBER_PARAMETER = OpenApiParameter("number", OpenApiTypes.STR, OpenApiParameter.PATH,
                                    pattern=NUMBER_PATTERN, description="Transfer number.")
ETAG_HEADER = etag_header("transfer")
IF_MATCH_PARAMETER = if_match_parameter("transfer")


def visible_transfers(request):
    """Return the transfers whose source or destination is in the token's scope."""
    return api_token_scope(Transfer.objects.all(), request.auth, fields=("source", "destination"))


def _with_related(queryset):
    return queryset.select_related("package", "source", "destination").prefetch_related(
        Prefetch("items", queryset=TransferItem.objects.select_related("sku").order_by("id")))


def _transfer_id(request, number: str) -> int:
    """Return the id of transfer ``number`` if the token sees it; else Http404."""
    transfer_id = visible_transfers(request).filter(number=number).values_list("pk", flat=True).first()
    if transfer_id is None:
        raise Http404
    return transfer_id


def _detail_response(transfer_id: int, *, location_ids: frozenset[int] | None) -> Response:
    """The transfer as ``GET`` shows it, its ``allowed_actions`` for a token of ``location_ids``."""
    transfer = _with_related(Transfer.objects.filter(pk=transfer_id)).prefetch_related(
        Prefetch("transitions", queryset=TransferTransition.objects.order_by("id"))).get()
    return Response(TransferDetailOutputSerializer(transfer, context={"location_ids": location_ids}).data,
                    headers={"ETag": etag_for(transfer.version)})


class TransferFilter(django_filters.FilterSet):
    """Filters of ``GET /api/v1/transfers/``; all optional, combined with AND."""

    status = django_filters.MultipleChoiceFilter(choices=Status.choices,
                                                 help_text="Transfer status slug (repeatable).")
    source = django_filters.CharFilter(field_name="source__code", max_length=64)
    destination = django_filters.CharFilter(field_name="destination__code", max_length=64)
    package = django_filters.CharFilter(field_name="package__number", max_length=80)
    updated_since = StrictIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Transfer
        fields: list[str] = []


class TransferListView(StrictQueryParamsMixin, generics.ListAPIView):
    """Transfers whose source or destination is in the token's scope."""

    serializer_class = TransferOutputSerializer
    filterset_class = TransferFilter
    queryset = Transfer.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return _with_related(visible_transfers(self.request))

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["location_ids"] = api_token_location_ids(self.request.auth)
        return context

    @extend_schema(operation_id="transfers_list", tags=["transfers"],
                   summary="List transfers (cursor-paginated by id)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TransferDetailView(StrictQueryParamsMixin, APIView):
    """One transfer with items, allowed actions and its log (404 outside the scope)."""

    @extend_schema(operation_id="transfers_retrieve", tags=["transfers"], summary="Get a transfer",
                   parameters=[NUMBER_PARAMETER, ETAG_HEADER], responses=TransferDetailOutputSerializer)
    def get(self, request, number: str):
        return _detail_response(_transfer_id(request, number),
                                location_ids=api_token_location_ids(request.auth))


class TransferActionView(StrictQueryParamsMixin, APIView):
    """``POST /api/v1/transfers/{number}/actions/{action}/``: validate the body, run the
    action through the transfer engine on the end it needs within the token's scope
    (``If-Match``: only at that version), answer the updated transfer. Subclassed once per
    action (``action_name``, ``input_serializer``)."""

    action_name: str = ""
    input_serializer: type = serializers.Serializer

    def post(self, request, number: str):
        def handler() -> Response:
            serializer = self.input_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            location_ids = api_token_location_ids(request.auth)
            try:
                transfer = transfer_run(self.action_name, number=number, actor=api_actor(request),
                                        location_ids=location_ids,
                                        versions=if_match_versions(request), **serializer.validated_data)
            except Transfer.DoesNotExist:
                raise Http404 from None
            except StaleVersion as exc:
                raise if_match_refused(request, exc.extra["current_version"]) from None
            return _detail_response(transfer.pk, location_ids=location_ids)

        return idempotent_call(request, handler)


def _action_doc(name: str) -> str:
    action = ACTIONS[name]
    effect = f" Stock: {action.stock}." if action.stock else ""
    return (f"{action.label}. Who: {', '.join(action.who_names)}. Needs the transfer's "
            f"{action.side} in the token's scope (else 404).\n\n{action.description}{effect}")


def _make_action_view(name: str) -> type[TransferActionView]:
    camel = "".join(part.title() for part in name.split("_"))
    def post(self, request, number: str):
        return TransferActionView.post(self, request, number)

    view = type(f"Transfer{camel}ActionView", (TransferActionView,), {
        "action_name": name, "input_serializer": TRANSFER_ACTION_INPUT_SERIALIZERS[name],
        "__module__": __name__,
    })
    view.post = extend_schema(
        operation_id=f"transfers_action_{name}", tags=["transfer actions"],
        summary=f"{ACTIONS[name].label} ({name})", description=_action_doc(name),
        request=TRANSFER_ACTION_INPUT_SERIALIZERS[name],
        parameters=[NUMBER_PARAMETER, IDEMPOTENCY_KEY_PARAMETER, IF_MATCH_PARAMETER, ETAG_HEADER],
        responses={200: TransferDetailOutputSerializer, 409: TransferConflictErrorSerializer},
    )(post)
    return view


# Every transfer action is open to API tokens (the state table's "who"); a system-only one
# would get no endpoint, as for packages.
ACTION_VIEWS = {name: _make_action_view(name) for name, action in ACTIONS.items() if action.may_run("api")}


# --- state machine ------------------------------------------------------------------------

class TransferStateSerializer(serializers.Serializer):
    """``{"slug": "waiting", "label": "Waiting"}``."""

    slug = serializers.ChoiceField(choices=Status.choices)
    label = serializers.CharField()


def _slugs() -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=Status.choices))


class TransferMachineActionSerializer(serializers.Serializer):
    """One action: who may run it, the end whose scope it needs, its source and target slugs."""

    name = action_field()
    label = serializers.CharField()
    who = serializers.ListField(child=serializers.ChoiceField(choices=list(WHO_NAMES.values())))
    side = serializers.ChoiceField(choices=["source", "destination"],
                                   help_text="The stock location whose scope the action needs.")
    sources = _slugs()
    targets = _slugs()
    path = serializers.CharField(allow_null=True, help_text="The endpoint running it; null when "
                                                            "only the system runs it.")


class TransferEdgeSerializer(serializers.Serializer):
    """One (action, source slug, target slug) edge of the graph."""

    action = action_field()
    source = serializers.ChoiceField(choices=Status.choices)
    target = serializers.ChoiceField(choices=Status.choices)


class TransferStateMachineSerializer(serializers.Serializer):
    """The transfer state machine as enforced, read from the django-fsm transitions of
    ``Transfer`` and ``transfers.actions.ACTIONS``."""

    entity = serializers.ChoiceField(choices=["transfer"])
    states = TransferStateSerializer(many=True)
    actions = TransferMachineActionSerializer(many=True)
    transitions = TransferEdgeSerializer(many=True)


def transfer_state_machine() -> dict:
    """Return the transfer graph (shape: ``TransferStateMachineSerializer``)."""
    actions = [a for a in fsm_actions(Transfer, states=Status.values, order=list(ACTIONS))
               if a.name in ACTIONS]
    return {
        "entity": "transfer",
        "states": [{"slug": s.value, "label": s.label} for s in Status],
        "actions": [{"name": a.name, "label": ACTIONS[a.name].label, "who": ACTIONS[a.name].who_names,
                     "side": ACTIONS[a.name].side, "sources": [str(s) for s in a.sources],
                     "targets": [str(t) for t in a.targets],
                     "path": f"/api/v1/transfers/{{number}}/actions/{a.name}/"
                     if a.name in ACTION_VIEWS else None} for a in actions],
        "transitions": [{"action": a.name, "source": str(s), "target": str(t)}
                        for a in actions for s, t in sorted(a.edges)],
    }


class TransferStateMachineView(StrictQueryParamsMixin, APIView):
    """``GET /api/v1/state-machines/transfer/`` (shape: ``TransferStateMachineSerializer``)."""

    @extend_schema(operation_id="state_machines_transfer", tags=["state machines"],
                   summary="The transfer state machine (read from the code)",
                   responses=TransferStateMachineSerializer)
    def get(self, request):
        return Response(transfer_state_machine())
