"""The OpenAPI schema of /api/groups/ and /api/members/. Nothing here runs on a request."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers

from common.openapi import BODY_ERRORS, REQUEST_ERRORS, error_responses

from .serializers import (
    GroupCreateSerializer,
    GroupRenameSerializer,
    GroupSerializer,
    MemberAddSerializer,
    MemberChangeSerializer,
    MemberSerializer,
)


class NewMemberSerializer(MemberSerializer):
    """A member just added; `token` only when the account was made by this call."""

    token = serializers.CharField(required=False, help_text="The new account's API token, shown this once.")

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "token"]
        read_only_fields = fields


ORGANIZATION_ERRORS = (
    (400, "Invalid input; an organization you are not in (`unknown_organization`), none named while you "
     "are an admin of several (`organization_required`), or a group not the organization's (`unknown_group`)."),
)

group_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["groups"],
        summary="The groups you see",
        description="Every group of an organization you see whole; your own where your membership is limited.",
        responses={200: GroupSerializer(many=True), **error_responses(*REQUEST_ERRORS)},
    ),
    retrieve=extend_schema(
        tags=["groups"],
        summary="One group",
        responses={200: GroupSerializer, **error_responses(*REQUEST_ERRORS, (404, "No such group."))},
    ),
    create=extend_schema(
        tags=["groups"],
        summary="Create a group (admins)",
        request=GroupCreateSerializer,
        responses={
            201: GroupSerializer,
            **error_responses(*BODY_ERRORS, *REQUEST_ERRORS, *ORGANIZATION_ERRORS, (409, "The name is taken (`group_name_taken`).")),
        },
    ),
    partial_update=extend_schema(
        tags=["groups"],
        summary="Rename a group (admins)",
        request=GroupRenameSerializer,
        responses={
            200: GroupSerializer,
            **error_responses(
                *BODY_ERRORS, *REQUEST_ERRORS, (404, "No such group."), (409, "The name is taken (`group_name_taken`).")
            ),
        },
    ),
)

member_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["members"],
        summary="The members of the organizations you are an admin of",
        responses={200: MemberSerializer(many=True), **error_responses(*REQUEST_ERRORS)},
    ),
    retrieve=extend_schema(
        tags=["members"],
        summary="One member",
        responses={200: MemberSerializer, **error_responses(*REQUEST_ERRORS, (404, "No such member."))},
    ),
    create=extend_schema(
        tags=["members"],
        summary="Add a member, or change an existing member's role and groups",
        description="Makes the account when there is none with this username, and answers its API token once.",
        request=MemberAddSerializer,
        responses={201: NewMemberSerializer, **error_responses(*BODY_ERRORS, *REQUEST_ERRORS, *ORGANIZATION_ERRORS)},
    ),
    partial_update=extend_schema(
        tags=["members"],
        summary="Change a member's role, groups or activity",
        request=MemberChangeSerializer,
        responses={
            200: MemberSerializer,
            **error_responses(
                *BODY_ERRORS,
                *REQUEST_ERRORS,
                *ORGANIZATION_ERRORS,
                (404, "No such member."),
                (409, "It would leave the organization without an active admin (`last_admin`)."),
            ),
        },
    ),
    destroy=extend_schema(
        tags=["members"],
        summary="Remove a member from the organization",
        responses={
            204: OpenApiResponse(description="Removed."),
            **error_responses(
                *REQUEST_ERRORS,
                (404, "No such member."),
                (409, "The organization's last active admin (`last_admin`)."),
            ),
        },
    ),
)
