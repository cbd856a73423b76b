"""/api/closures/: HTTP in, services, HTTP out. Viewers read the closures
covering stores they see; managers and admins write them for the stores in
their scope (stores.access, accounts.selectors)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, QuerySet
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Organization, Role, StoreGroup
from accounts.selectors import (
    RoleTooLow,
    group_for,
    groups_visible_to,
    limiting_groups,
    organization_for,
)
from common.errors import ApiError, Refusal, validation_error
from core.closures import PeriodInvalid, closure_period

from .access import closure_manage_require
from .models import Closure, Store
from .selectors import closures_covering, closures_touching
from .openapi import closure_viewset_schema
from .serializers import ClosureChangeSerializer, ClosureSerializer, ClosureWriteSerializer, closure_texts
from .services import closure_covered_stores, closure_create, closure_update
from .store_ids import InvalidStoreId, clean_store_id

# A list of closures is taken like a poll batch, up to this many.
MAX_CLOSURE_BATCH = 1000


def _period(start: Any, end: Any, every_year: bool):
    try:
        return closure_period(start, end, every_year=every_year)
    except PeriodInvalid as exc:
        raise validation_error(str(exc), {exc.field: [str(exc)]}, code=exc.code) from None


def _target(user, data: dict) -> tuple[Organization, list[Store] | None, StoreGroup | None]:
    """The organization and stores or group a new closure covers, checked
    against the user's scope: RoleTooLow where they only see, unknown where
    they do not see."""
    if "store_ids" in data:
        wanted = sorted(set(data["store_ids"]))
        managed = list(Store.objects.visible_to(user, role=Role.MANAGER).filter(store_id__in=wanted))
        missing = sorted(set(wanted) - {store.store_id for store in managed})
        if missing:
            if Store.objects.visible_to(user).filter(store_id__in=missing).exists():
                raise RoleTooLow(Role.MANAGER)
            message = f"No such store among yours: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}."
            raise validation_error(message, {"store_ids": [message]}, code="unknown_store")
        organizations = {store.organization_id for store in managed}
        if len(organizations) > 1:
            message = "The stores are in several organizations: one closure covers stores of one."
            raise validation_error(message, {"store_ids": [message]}, code="stores_in_several_organizations")
        return managed[0].organization, managed, None
    named = organization_for(user, data["organization"], role=Role.VIEWER) if "organization" in data else None
    if "group" in data:
        group = group_for(user, data["group"], organization=named)
        if not groups_visible_to(user, role=Role.MANAGER).filter(pk=group.pk).exists():
            raise RoleTooLow(Role.MANAGER, where="the group's organization")
        return group.organization, None, group
    organization = organization_for(user, data.get("organization"), role=Role.MANAGER)
    if limiting_groups(user, organization, role=Role.MANAGER) is not None:
        message = "You manage only some groups' stores: give store_ids or group."
        raise validation_error(message, {"group": [message]}, code="groups_required")
    return organization, None, None


def _created_body(user, closure: Closure) -> dict:
    body = dict(ClosureSerializer(closures_for_api(user).get(pk=closure.pk)).data)
    body["stores"] = closure_covered_stores(closure=closure).count()
    return body


def closures_for_api(user) -> QuerySet[Closure]:
    return (
        Closure.objects.visible_to(user)
        .select_related("organization", "group", "created_by")
        .prefetch_related(Prefetch("stores", queryset=Store.objects.visible_to(user).only("pk", "store_id")))
    )


def _create_one(request: Request, item: Any) -> tuple[int, dict]:
    serializer = ClosureWriteSerializer(data=item)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    period = _period(data["start"], data["end"], data["every_year"])
    organization, stores, group = _target(request.user, data)
    closure = closure_create(
        organization=organization,
        period=period,
        reason=data["reason"],
        created_by=request.user,
        stores=stores,
        group=group,
        every_year=data["every_year"],
    )
    return status.HTTP_201_CREATED, _created_body(request.user, closure)


def _outcome(exc: Exception) -> dict:
    """A batch item's refusal, as the JSON handler would have answered it alone."""
    if isinstance(exc, Refusal):
        return {"status": exc.status_code, "code": exc.code, "message": exc.message}
    if isinstance(exc, ApiError):
        body = {"status": exc.status_code, "code": exc.detail.code, "message": str(exc.detail)}
        if exc.errors:
            body["errors"] = exc.errors
        return body
    assert isinstance(exc, ValidationError)
    return {"status": 400, "code": "invalid", "message": "Invalid closure.", "errors": exc.detail}


@closure_viewset_schema
class ClosureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ClosureSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Closure]:
        closures = closures_for_api(self.request.user).order_by("-id")
        if self.action != "list":
            return closures
        params = self.request.query_params
        if "store_id" in params:
            try:
                store_id = clean_store_id(params["store_id"])
            except InvalidStoreId as exc:
                raise validation_error(f"store id {exc}", code="invalid_store_id") from None
            store = Store.objects.visible_to(self.request.user).filter(store_id=store_id).first()
            if store is None:
                return closures.none()
            closures = closures.filter(closures_covering(store))
        if "group" in params:
            closures = closures.filter(group__name=params["group"])
        start, end = self._range(params)
        if start is not None or end is not None:
            earliest = dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc)
            latest = dt.datetime(9999, 12, 30, tzinfo=dt.timezone.utc)
            closures = closures.filter(closures_touching(start or earliest, end or latest))
        return closures

    @staticmethod
    def _range(params) -> tuple[dt.datetime | None, dt.datetime | None]:
        """?from= and ?to=: dates or instants (a date is its UTC midnight; local closures get a day's slack)."""
        found = []
        for name in ("from", "to"):
            text = params.get(name)
            if text is None:
                found.append(None)
                continue
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                message = f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 instant, not {text!r}."
                raise validation_error(message, {name: [message]}) from None
            found.append(moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc))
        return found[0], found[1]

    def create(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, dict):
            code, body = _create_one(request, data)
            return Response(body, status=code)
        if not isinstance(data, list) or not data:
            raise validation_error("Expected a closure object or a non-empty list of them.")
        if len(data) > MAX_CLOSURE_BATCH:
            raise validation_error(
                f"At most {MAX_CLOSURE_BATCH} closures per request; this one has {len(data)}.", code="batch_too_large"
            )
        results, counts = [], {}
        for index, item in enumerate(data):
            try:
                code, body = _create_one(request, item)
                result = {"status": code, "code": "created", "closure": body}
            except (Refusal, ApiError, ValidationError) as exc:
                result = _outcome(exc)
            results.append({"index": index, **result})
            counts[result["code"]] = counts.get(result["code"], 0) + 1
        return Response({"counts": counts, "results": results}, status=status.HTTP_200_OK)

    def partial_update(self, request: Request, pk: str) -> Response:
        closure = self.get_object()
        closure_manage_require(request.user, closure)
        serializer = ClosureChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        start, end = closure_texts(closure)
        every_year = data.get("every_year", closure.every_year)
        period = None
        if "start" in data or "end" in data or "every_year" in data:
            period = _period(data.get("start", start), data.get("end", end), every_year)
        closure_update(closure=closure, period=period, every_year=every_year, reason=data.get("reason"))
        return Response(ClosureSerializer(closures_for_api(request.user).get(pk=closure.pk)).data)

    def destroy(self, request: Request, pk: str) -> Response:
        closure = self.get_object()
        closure_manage_require(request.user, closure)
        closure.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
