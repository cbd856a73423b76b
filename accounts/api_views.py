"""/api/groups/ and /api/members/: HTTP in, services, HTTP out. Groups are
listed to every member (their own ones where they are limited to some);
creating and renaming groups and everything on members is for admins of
the organization."""
from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from common.errors import validation_error

from .models import Membership, Role, StoreGroup
from .permissions import AdminOfSomeOrganization, IsAccountUser, TokenAllowsMethod
from .openapi import group_viewset_schema, member_viewset_schema
from .selectors import (
    RoleTooLow,
    groups_named,
    groups_visible_to,
    organization_for,
    organization_role,
    organizations_of,
)
from .serializers import (
    GroupCreateSerializer,
    GroupRenameSerializer,
    GroupSerializer,
    MemberAddSerializer,
    MemberChangeSerializer,
    MemberSerializer,
)
from .services import group_create, group_rename, member_add, membership_change, membership_remove


def _require_admin(request: Request, organization_id: int) -> None:
    if not Role.includes(organization_role(request.user, organization_id), Role.ADMIN):
        raise RoleTooLow(Role.ADMIN, where="the group's organization")


@group_viewset_schema
class GroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = GroupSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[StoreGroup]:
        return groups_visible_to(self.request.user).select_related("organization").order_by("organization__name", "name")

    def create(self, request: Request) -> Response:
        serializer = GroupCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = organization_for(request.user, serializer.validated_data.get("organization"), role=Role.ADMIN)
        group = group_create(organization=organization, name=serializer.validated_data["name"])
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        group = self.get_object()
        _require_admin(request, group.organization_id)
        serializer = GroupRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group_rename(group=group, name=serializer.validated_data["name"])
        return Response(GroupSerializer(group).data)


@member_viewset_schema
class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MemberSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    permission_classes = [IsAccountUser, TokenAllowsMethod, AdminOfSomeOrganization]

    def get_queryset(self) -> QuerySet[Membership]:
        return (
            Membership.objects.filter(organization__in=organizations_of(self.request.user, role=Role.ADMIN))
            .select_related("organization", "user")
            .prefetch_related(Prefetch("groups", queryset=StoreGroup.objects.order_by("name")))
            .order_by("organization__name", "user__username")
        )

    def create(self, request: Request) -> Response:
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_for(request.user, data.get("organization"), role=Role.ADMIN)
        groups = groups_named(request.user, organization, data.get("groups", []), role=Role.ADMIN)
        if "password" in data:
            try:
                validate_password(data["password"])
            except DjangoValidationError as exc:
                raise validation_error(" ".join(exc.messages), {"password": exc.messages}) from None
        try:
            membership, key = member_add(
                organization=organization,
                username=data["username"],
                role=data["role"],
                groups=groups,
                password=data.get("password"),
                email=data["email"],
            )
        except DjangoValidationError as exc:
            raise validation_error(" ".join(exc.messages), {"username": exc.messages}) from None
        body = MemberSerializer(self.get_queryset().get(pk=membership.pk)).data
        if key is not None:
            # A new account: its token, shown this once (it is stored hashed).
            body = {**body, "token": key}
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        membership = self.get_object()
        serializer = MemberChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        groups = None
        if "groups" in data:
            groups = groups_named(request.user, membership.organization, data["groups"], role=Role.ADMIN)
        membership_change(membership=membership, role=data.get("role"), groups=groups, is_active=data.get("is_active"))
        # Read back without get_queryset(): an admin who just gave up their own admin role no longer sees it.
        changed = Membership.objects.select_related("organization", "user").get(pk=membership.pk)
        return Response(MemberSerializer(changed).data)

    def destroy(self, request: Request, pk: str) -> Response:
        membership_remove(membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
