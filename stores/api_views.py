"""HTTP in, services, HTTP out: the seed endpoints and the /api/ viewsets for stores and polls."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import Device
from accounts.models import Role
from accounts.permissions import IsAccountUserOrDevice, TokenAllowsMethod
from accounts.selectors import (
    RoleTooLow,
    groups_named,
    groups_visible_to,
    holds_role_somewhere,
    limiting_groups,
    organization_for,
)
from common.errors import INVALID_STORE_ID, ApiError, validation_error

from .access import store_role, store_role_require
from .models import BusinessHours, Store, StatusSpan
from .openapi import poll_schema, poll_viewset_schema, register_schema, store_viewset_schema
from .serializers import PollInvalid, RegisterStoreSerializer, StoreSerializer, poll_from_json
from .device_keys import device_key_refused
from .services import DeviceKeyInvalid, StoreIdTaken, polls_record, store_register
from .store_ids import InvalidStoreId, clean_store_id


def stores_for_api(user) -> QuerySet[Store]:
    """The stores the user sees, with what StoreSerializer shows: their week,
    their organization, and their groups that the user sees."""
    return (
        Store.objects.visible_to(user)
        .select_related("organization")
        .prefetch_related(
            Prefetch("business_hours", queryset=BusinessHours.objects.order_by("day_of_week", "start_time_local")),
            Prefetch("groups", queryset=groups_visible_to(user)),
        )
    )


def _groups_for(user, organization, names: list[str], store: Store | None) -> list:
    """The groups a store will be in after this registration: the named ones
    (which the user may use as a manager), plus those of its groups the user
    does not see (a manager limited to some groups keeps the others as they
    are). A new store of a manager limited to one group goes into it; limited
    to several, it must name one."""
    limits = limiting_groups(user, organization, role=Role.MANAGER)
    named = groups_named(user, organization, names, role=Role.MANAGER)
    if limits is not None and not named:
        if store is None and len(limits) == 1:
            named = limits
        else:
            message = "You manage only some groups' stores: put the store in at least one of them."
            raise validation_error(message, {"groups": [message]}, code="groups_required")
    if store is None:
        return named
    usable = {group.pk for group in groups_visible_to(user, role=Role.MANAGER).filter(organization=organization)}
    kept = [group for group in store.groups.all() if group.pk not in usable]
    return [*named, *kept]


def register(request: Request, data: Any) -> Response:
    """Create or update a store from either registration form.

    An existing store the user sees is updated if their role over it is
    manager or admin; one they do not see answers 409 store_id_taken (ids
    are unique across organizations). A new store goes into the named
    organization, or the user's only one where they are a manager or admin.
    """
    serializer = RegisterStoreSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    arguments = serializer.service_arguments()
    user = request.user
    store = Store.objects.filter(store_id=arguments["store_id"]).first()
    if store is not None and store_role(user, store) is not None:
        store_role_require(user, store, Role.MANAGER)
        organization = store.organization
    elif store is None:
        organization = organization_for(user, serializer.validated_data.get("organization"), role=Role.MANAGER)
    else:
        raise _store_id_taken()
    if "groups" in arguments or store is None:
        arguments["groups"] = _groups_for(user, organization, arguments.get("groups", []), store)
    try:
        result = store_register(organization=organization, **arguments)
    except StoreIdTaken:
        raise _store_id_taken() from None
    body = StoreSerializer(stores_for_api(user).get(pk=result.store.pk)).data
    if result.device_key:
        body = {**body, "device_key": result.device_key}
    return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def _store_id_taken() -> ApiError:
    return ApiError(
        status_code=status.HTTP_409_CONFLICT,
        code="store_id_taken",
        message="This store id is registered in another organization.",
    )


class RegisterStoreView(APIView):
    @register_schema
    def post(self, request: Request) -> Response:
        return register(request, request.data)


def record_polls(request: Request) -> Response:
    """One poll object, or a list of up to MONITOR_MAX_POLL_BATCH, applied in order."""
    if not isinstance(request.user, Device) and not holds_role_somewhere(request.user, Role.MANAGER):
        # Polls are a device's; with a user's token or session, a manager's (for the stores they manage).
        raise RoleTooLow(Role.MANAGER, where="any of your organizations")
    data = request.data
    single = isinstance(data, dict)
    items = [data] if single else data
    if not isinstance(items, list) or not items:
        raise validation_error("Expected a poll object or a non-empty list of them.")
    if len(items) > settings.MONITOR_MAX_POLL_BATCH:
        raise validation_error(
            f"At most {settings.MONITOR_MAX_POLL_BATCH} polls per request; this one has {len(items)}.",
            code="batch_too_large",
        )
    now = timezone.now()
    outcomes: list[dict[str, Any] | None] = [None] * len(items)
    valid, positions = [], []
    for index, item in enumerate(items):
        try:
            valid.append(poll_from_json(item, now=now))
            positions.append(index)
        except PollInvalid as exc:
            outcomes[index] = {"status": 400, "code": exc.code, "message": exc.message, "errors": exc.errors}
    device = request.user if isinstance(request.user, Device) else None
    if valid:
        if device is None:
            recorded = polls_record(polls=valid, stores=Store.objects.visible_to(request.user, role=Role.MANAGER))
        else:
            try:
                recorded = polls_record(polls=valid, stores=None, device_store=device.store)
            except DeviceKeyInvalid:
                # Rotated since the key's lookup was cached (stores.device_keys): a wrong key now.
                raise device_key_refused(request, store_pk=device.store.pk) from None
        for index, outcome in zip(positions, recorded):
            outcomes[index] = {"status": outcome.http_status, "code": outcome.code, "message": outcome.message}
    if single:
        return _single_answer(request, outcomes[0])
    counts: dict[str, int] = {}
    for index, result in enumerate(outcomes):
        result["index"] = index
        counts[result["code"]] = counts.get(result["code"], 0) + 1
    return Response({"counts": counts, "results": outcomes}, status=status.HTTP_200_OK)


# A single poll's answers, rendered once per process: (code, message) -> JSON.
_RENDERED_ANSWERS: dict[tuple[str, str], bytes] = {}


def _single_answer(request: Request, result: dict[str, Any]) -> HttpResponse:
    """A single poll's answer: {"code", "message"} (and "errors" when invalid).

    The verdicts' answers are a handful of fixed bodies: when DRF's
    negotiation chose the JSON renderer with its plain media type (always,
    unless the client asked for `application/json; indent=...`), the body
    is the one that renderer wrote for the same answer before, in an
    HttpResponse, instead of a DRF Response rendered again: the same
    status, headers and bytes."""
    body = {key: value for key, value in result.items() if key != "status"}
    renderer = request.accepted_renderer
    if "errors" in body or type(renderer) is not JSONRenderer or request.accepted_media_type != renderer.media_type:
        return Response(body, status=result["status"])
    key = (body["code"], body["message"])
    rendered = _RENDERED_ANSWERS.get(key)
    if rendered is None:
        rendered = _RENDERED_ANSWERS[key] = renderer.render(body, renderer.media_type, {})
    return HttpResponse(rendered, status=result["status"], content_type=renderer.media_type)


class RememberedNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, its choice remembered per format, Accept
    header and renderers (it depends on nothing else) for up to REMEMBERED
    of them: parsing the same Accept header again on every poll was a
    noticeable share of its CPU. Refusals (406, 404) are not remembered."""

    REMEMBERED = 64
    _choices: dict[tuple, tuple[int, str]] = {}

    def select_renderer(self, request, renderers, format_suffix=None):
        format_ = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        key = (format_, request.META.get("HTTP_ACCEPT"), tuple(type(renderer) for renderer in renderers))
        choice = self._choices.get(key)
        if choice is not None:
            index, media_type = choice
            return renderers[index], media_type
        renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        if len(self._choices) < self.REMEMBERED:
            self._choices[key] = (next(i for i, candidate in enumerate(renderers) if candidate is renderer), media_type)
        return renderer, media_type


class PollView(APIView):
    permission_classes = [IsAccountUserOrDevice, TokenAllowsMethod]
    content_negotiation_class = RememberedNegotiation

    @poll_schema
    def post(self, request: Request) -> Response:
        return record_polls(request)


# --------------------------------------------------------------------------
# /api/
# --------------------------------------------------------------------------


@store_viewset_schema
class StoreViewSet(mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Stores the user may see, with their whole week. POST registers (either
    form of /register_store); PUT /api/stores/<id>/ updates one."""

    serializer_class = StoreSerializer
    lookup_field = "store_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return stores_for_api(self.request.user).order_by("store_id")

    def get_object(self) -> Store:
        # Checked before the lookup: no stored id breaks the rule, and
        # PostgreSQL cannot even compare text holding NUL.
        try:
            clean_store_id(self.kwargs[self.lookup_field])
        except InvalidStoreId as exc:
            message = f"store id {exc}"
            raise validation_error(message, {"store_id": [message]}, code=INVALID_STORE_ID) from None
        return super().get_object()

    def create(self, request: Request) -> Response:
        return register(request, request.data)

    def destroy(self, request: Request, store_id: str) -> Response:
        store = self.get_object()
        store_role_require(request.user, store, Role.ADMIN)
        return super().destroy(request, store_id=store_id)

    def update(self, request: Request, store_id: str) -> Response:
        store = self.get_object()
        if not isinstance(request.data, dict):
            raise validation_error("Expected a JSON object.")
        if str(request.data.get("store_id", store.store_id)) != store.store_id:
            raise validation_error("store_id in the body differs from the one in the address.")
        return register(request, {**request.data, "store_id": store.store_id})

    @action(detail=True, methods=["get"])
    def spans(self, request: Request, store_id: str) -> Response:
        """The store's status spans, newest first (at most 1,000)."""
        store = self.get_object()
        spans = StatusSpan.objects.filter(store=store).order_by("-first_poll_at")[:1000]
        return Response(
            [
                {
                    "status": span.status,
                    "first_poll_at": span.first_poll_at,
                    "last_poll_at": span.last_poll_at,
                    "poll_count": span.poll_count,
                }
                for span in spans
            ]
        )


@poll_viewset_schema
class PollViewSet(viewsets.ViewSet):
    """POST /api/polls/: the same as /poll."""

    permission_classes = [IsAccountUserOrDevice, TokenAllowsMethod]
    content_negotiation_class = RememberedNegotiation

    def create(self, request: Request) -> Response:
        return record_polls(request)

