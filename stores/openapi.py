"""The OpenAPI schema of the store and poll endpoints: the device key scheme,
documentation-only serializers for bodies the views build by hand, and the
@extend_schema of each view. Nothing here runs on a request.
"""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers

from accounts.permissions import IsAccountUserOrDevice
from common.openapi import BODY_ERRORS, REQUEST_ERRORS, error_responses
from common.serializers import StrictSerializer

from .models import PollStatus
from .serializers import (
    ClosureChangeSerializer,
    ClosureSerializer,
    ClosureWriteSerializer,
    RegisterStoreSerializer,
    StoreIdField,
    StoreSerializer,
)
from .store_ids import STORE_ID_PATTERN, STORE_ID_RULE

# --------------------------------------------------------------------------
# Extensions: what drf-spectacular cannot see by itself.
# --------------------------------------------------------------------------


class StoreKeyScheme(OpenApiAuthenticationExtension):
    """stores.device_keys.StoreKeyAuthentication: `X-Store-Key: <device key>`,
    listed only on the operations a device may use (posting polls)."""

    target_class = "stores.device_keys.StoreKeyAuthentication"
    name = "storeKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Store-Key",
            "description": (
                "A store's device key (shown once, when the store is registered): it may post polls "
                "for that store and do nothing else."
            ),
        }

    def get_security_requirement(self, auto_schema):
        if any(isinstance(permission, IsAccountUserOrDevice) for permission in auto_schema.view.get_permissions()):
            return {self.name: []}
        return None


# --------------------------------------------------------------------------
# Bodies built by hand in the views, described for the schema.
# --------------------------------------------------------------------------


class RegisteredStoreSerializer(StoreSerializer):
    """A store just registered, with its device key."""

    device_key = serializers.CharField(
        help_text="The store's device key, for `X-Store-Key`. Shown this once: only its hash is kept."
    )

    class Meta(StoreSerializer.Meta):
        fields = [*StoreSerializer.Meta.fields, "device_key"]
        read_only_fields = fields


class StoreUpdateSerializer(RegisterStoreSerializer):
    """PUT /api/stores/<store_id>/: the registration body, its store_id taken from the address."""

    store_id = StoreIdField(required=False, help_text="Optional; when given, the id in the address.")


class SpanSerializer(serializers.Serializer):
    """A run of polls with one status."""

    status = serializers.ChoiceField(PollStatus.choices)
    first_poll_at = serializers.DateTimeField()
    last_poll_at = serializers.DateTimeField()
    poll_count = serializers.IntegerField(min_value=1)


class PollSerializer(StrictSerializer):
    """One poll from a store's device."""

    id = StoreIdField(help_text="The store's id.")
    utc_timestamp = serializers.CharField(
        help_text=(
            "ISO 8601 (`Z`, an offset, or none for UTC), or the Loop form `2023-01-22 12:09:39.388884 UTC`; "
            "from 1970 to at most 5 minutes ahead of the server's clock."
        )
    )
    status = serializers.ChoiceField(PollStatus.choices)


class PollOutcomeSerializer(serializers.Serializer):
    """What became of a single poll."""

    code = serializers.CharField(help_text='"recorded" (201) or "repeat" (200).')
    message = serializers.CharField()


class PollResultSerializer(serializers.Serializer):
    """What became of one poll of a list."""

    index = serializers.IntegerField(min_value=0, help_text="The poll's position in the list.")
    status = serializers.IntegerField(help_text="The status a single post of this poll would have had.")
    code = serializers.CharField(
        help_text=(
            "recorded, repeat, invalid, invalid_store_id, unknown_store, other_store, older_than_latest or "
            "conflicting_status."
        )
    )
    message = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For an invalid poll: messages per field.",
    )


class PollBatchSerializer(serializers.Serializer):
    """What became of each poll of a list."""

    counts = serializers.DictField(child=serializers.IntegerField(min_value=1), help_text="Polls per outcome code.")
    results = PollResultSerializer(many=True, help_text="One per poll, in the order posted.")


class PollOrBatchSerializer(serializers.Serializer):
    """A poll, or a list of polls; PollOrBatchScheme writes its schema."""


class PollOrBatchScheme(OpenApiSerializerExtension):
    """oneOf a poll and a list of 1 to MONITOR_MAX_POLL_BATCH polls (drf-spectacular
    leaves minItems and maxItems out of a ListSerializer's schema)."""

    target_class = PollOrBatchSerializer

    def map_serializer(self, auto_schema, direction):
        poll = auto_schema.resolve_serializer(PollSerializer, direction).ref
        batch = {"type": "array", "items": poll, "minItems": 1, "maxItems": settings.MONITOR_MAX_POLL_BATCH}
        return {"oneOf": [poll, batch]}

# --------------------------------------------------------------------------
# The operations.
# --------------------------------------------------------------------------

STORE_ID_TAKEN = (409, "The store id is registered in another organization (`store_id_taken`).")
# /api/stores/<store_id>/: an id outside the rule is refused before any lookup.
STORE_ID_PATH = OpenApiParameter(
    "store_id", str, OpenApiParameter.PATH, description=f"The store's id: {STORE_ID_RULE}.", pattern=f"^{STORE_ID_PATTERN}$"
)
INVALID_STORE_ID_PATH = (400, "The store id in the address breaks the store id rule (`invalid_store_id`).")

register_schema = extend_schema(
    tags=["stores"],
    summary="Register a store, or update its time zone and hours",
    description=(
        "Either the week form, `business_hours` (days left out are open all day; `closed: true` closes "
        "one; the whole week is replaced), or the seed's one-day form, `dayOfWeek` with "
        "`start_time_local` and `end_time_local` (that day's hours are replaced). `local_timezone` "
        "defaults to America/Chicago for a new store."
    ),
    request=RegisterStoreSerializer,
    responses={
        201: OpenApiResponse(RegisteredStoreSerializer, description="Created, with its device key (shown once)."),
        200: OpenApiResponse(StoreSerializer, description="Updated."),
        **error_responses(*BODY_ERRORS, *REQUEST_ERRORS, STORE_ID_TAKEN),
    },
    examples=[
        OpenApiExample(
            "Week form",
            request_only=True,
            value={
                "store_id": "8419537941919820732",
                "local_timezone": "America/New_York",
                "business_hours": [
                    {"dayOfWeek": 0, "start_time_local": "09:00", "end_time_local": "17:00"},
                    {"dayOfWeek": 4, "start_time_local": "18:00", "end_time_local": "02:00"},
                    {"dayOfWeek": 6, "closed": True},
                ],
            },
        ),
        OpenApiExample(
            "One-day form",
            request_only=True,
            value={
                "store_id": "8419537941919820732",
                "dayOfWeek": 2,
                "start_time_local": "10:00",
                "end_time_local": "22:00",
            },
        ),
    ],
)

poll_schema = extend_schema(
    tags=["polls"],
    summary="Post a poll, or a list of polls",
    description=(
        "One poll object, answered with its own status; or a list of 1 to "
        f"{settings.MONITOR_MAX_POLL_BATCH:,} polls, applied in order and answered 200 with one result per "
        "poll. Polls of a store must arrive in time order; repeating the latest is harmless."
    ),
    request=PollOrBatchSerializer,
    responses={
        201: OpenApiResponse(PollOutcomeSerializer, description="A single poll: recorded."),
        200: OpenApiResponse(
            PolymorphicProxySerializer(
                component_name="PollRepeatOrBatchResult",
                serializers=[PollOutcomeSerializer, PollBatchSerializer],
                resource_type_field_name=None,
            ),
            description=(
                "A single poll: the same as the store's latest poll, nothing changed. "
                "A list: one result per poll."
            ),
        ),
        **error_responses(
            *BODY_ERRORS,
            *REQUEST_ERRORS,
            (400, "A single invalid poll (`errors` per field); or not a poll, an empty list, or too many."),
            (403, "A device key posting for another store (or a session request without its CSRF token)."),
            (404, "A single poll: no such store among those the credentials may post for."),
            (409, "A single poll: older than the store's latest, or at its instant with the other status."),
        ),
    },
    examples=[
        OpenApiExample(
            "One poll",
            request_only=True,
            value={"id": "8419537941919820732", "utc_timestamp": "2024-01-08T21:05:00Z", "status": "active"},
        ),
    ],
)

store_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["stores"],
        summary="The stores the user may see",
        description="With their whole week; every store for a superuser. Ordered by store id.",
        responses={200: StoreSerializer(many=True), **error_responses(*REQUEST_ERRORS)},
    ),
    create=register_schema,
    retrieve=extend_schema(
        tags=["stores"],
        summary="One store",
        description="With its whole week.",
        parameters=[STORE_ID_PATH],
        responses={200: StoreSerializer, **error_responses(INVALID_STORE_ID_PATH, *REQUEST_ERRORS, (404, "No such store."))},
    ),
    update=extend_schema(
        tags=["stores"],
        summary="Update a store's time zone and hours",
        description="The registration body; store_id may be left out (it is the one in the address).",
        request=StoreUpdateSerializer,
        parameters=[STORE_ID_PATH],
        responses={
            200: OpenApiResponse(StoreSerializer, description="Updated."),
            **error_responses(*BODY_ERRORS, *REQUEST_ERRORS, (404, "No such store.")),
        },
    ),
    destroy=extend_schema(
        tags=["stores"],
        summary="Delete a store",
        description="With its hours and spans; its device key stops working.",
        parameters=[STORE_ID_PATH],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(INVALID_STORE_ID_PATH, *REQUEST_ERRORS, (404, "No such store.")),
        },
    ),
    spans=extend_schema(
        tags=["stores"],
        summary="A store's status spans, newest first (at most 1,000)",
        description="A span is a run of polls with one status.",
        parameters=[STORE_ID_PATH],
        responses={
            200: SpanSerializer(many=True),
            **error_responses(INVALID_STORE_ID_PATH, *REQUEST_ERRORS, (404, "No such store.")),
        },
    ),
)

poll_viewset_schema = extend_schema_view(create=poll_schema)


# --------------------------------------------------------------------------
# Closures
# --------------------------------------------------------------------------


class CreatedClosureSerializer(ClosureSerializer):
    """A closure just made, with the number of stores it covers now."""

    stores = serializers.IntegerField(min_value=0, help_text="How many stores it covers now.")

    class Meta(ClosureSerializer.Meta):
        fields = [*ClosureSerializer.Meta.fields, "stores"]
        read_only_fields = fields


class ClosureResultSerializer(serializers.Serializer):
    """What became of one closure of a list."""

    index = serializers.IntegerField(min_value=0)
    status = serializers.IntegerField(help_text="The status a single post of this closure would have had.")
    code = serializers.CharField(help_text='"created", or the error code a single post would have had.')
    message = serializers.CharField(required=False)
    errors = serializers.JSONField(required=False)
    closure = CreatedClosureSerializer(required=False)


class ClosureBatchSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(min_value=1))
    results = ClosureResultSerializer(many=True)


class ClosureOrBatchSerializer(serializers.Serializer):
    """A closure, or a list of closures; ClosureOrBatchScheme writes its schema."""


class ClosureOrBatchScheme(OpenApiSerializerExtension):
    target_class = ClosureOrBatchSerializer

    def map_serializer(self, auto_schema, direction):
        one = auto_schema.resolve_serializer(ClosureWriteSerializer, direction).ref
        return {"oneOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": 1000}]}


CLOSURE_REFUSALS = (
    400,
    "Invalid input: a period that cannot be read (`invalid`), an end not after the start (`end_before_start`), "
    "over 366 days (`closure_too_long`), start and end in different forms (`closure_forms_differ`), "
    "every_year with instants (`every_year_needs_local_time`), unknown stores (`unknown_store`), groups "
    "(`unknown_group`) or organizations (`unknown_organization`), stores of several organizations "
    "(`stores_in_several_organizations`), a member of several organizations without `organization` "
    "(`organization_required`), a manager limited to groups closing every store (`groups_required`).",
)
CLOSURE_PATH = OpenApiParameter("id", int, OpenApiParameter.PATH)

closure_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["closures"],
        summary="The closures covering stores you see",
        parameters=[
            OpenApiParameter("store_id", str, description="Only those covering this store."),
            OpenApiParameter("group", str, description="Only those made for this group."),
            OpenApiParameter("from", str, description="Only those that may reach after this date or instant (every-year ones always)."),
            OpenApiParameter("to", str, description="Only those that may start before this date or instant (every-year ones always)."),
        ],
        responses={200: ClosureSerializer(many=True), **error_responses(400, *REQUEST_ERRORS)},
    ),
    retrieve=extend_schema(
        tags=["closures"],
        summary="One closure",
        parameters=[CLOSURE_PATH],
        responses={200: ClosureSerializer, **error_responses(*REQUEST_ERRORS, (404, "No such closure."))},
    ),
    create=extend_schema(
        tags=["closures"],
        summary="Close stores for a period (managers and admins)",
        description=(
            "Of the listed `store_ids`, of a `group`'s stores, or (neither) of every store of the organization. "
            "A list of up to 1,000 closures is taken like a poll batch: 200 with a result per item."
        ),
        request=ClosureOrBatchSerializer,
        responses={
            201: OpenApiResponse(CreatedClosureSerializer, description="A single closure: made."),
            200: OpenApiResponse(ClosureBatchSerializer, description="A list: one result per closure."),
            **error_responses(*BODY_ERRORS, *REQUEST_ERRORS, CLOSURE_REFUSALS),
        },
        examples=[
            OpenApiExample(
                "Christmas, every year, for every store",
                request_only=True,
                value={"start": "2024-12-25", "end": "2024-12-25", "reason": "Christmas", "every_year": True},
            ),
        ],
    ),
    partial_update=extend_schema(
        tags=["closures"],
        summary="Change a closure's period, repetition or reason",
        parameters=[CLOSURE_PATH],
        request=ClosureChangeSerializer,
        responses={
            200: ClosureSerializer,
            **error_responses(*BODY_ERRORS, *REQUEST_ERRORS, CLOSURE_REFUSALS, (404, "No such closure.")),
        },
    ),
    destroy=extend_schema(
        tags=["closures"],
        summary="Delete a closure",
        parameters=[CLOSURE_PATH],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(*REQUEST_ERRORS, (404, "No such closure."))},
    ),
)
