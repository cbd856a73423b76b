"""Groups and members between JSON and Python; no rules here."""
from __future__ import annotations

from rest_framework import serializers

from common.serializers import StrictSerializer

from .models import Membership, Role, StoreGroup


class GroupSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = StoreGroup
        fields = ["id", "name", "organization", "created_at"]
        read_only_fields = ["id", "organization", "created_at"]


class GroupCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    organization = serializers.CharField(
        required=False, max_length=150, help_text="For an admin of several organizations: which one."
    )


class GroupRenameSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)


class MemberSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name", read_only=True)
    username = serializers.CharField(source="user.get_username", read_only=True)
    groups = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["id", "organization", "username", "role", "groups", "is_active", "created_at"]
        read_only_fields = fields

    def get_groups(self, membership: Membership) -> list[str]:
        return sorted(group.name for group in membership.groups.all())


class MemberAddSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(Role.choices)
    groups = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=100,
        help_text="Limit a viewer or manager to these groups' stores (ignored for an admin).",
    )
    organization = serializers.CharField(
        required=False, max_length=150, help_text="For an admin of several organizations: which one."
    )
    password = serializers.CharField(
        required=False,
        max_length=128,
        write_only=True,
        help_text="For a new account only: its password for the pages (without one it uses its token only).",
    )
    email = serializers.EmailField(required=False, default="")


class MemberChangeSerializer(StrictSerializer):
    role = serializers.ChoiceField(Role.choices, required=False)
    groups = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=100)
    is_active = serializers.BooleanField(required=False)
