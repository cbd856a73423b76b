"""Translate JSON to service inputs and models to JSON; no business logic here."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone as django_timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.errors import INVALID_STORE_ID
from common.serializers import StrictSerializer
from core.instants import parse_utc_timestamp

from .hours import HoursInput, entry_problem, local_time, week_problems, week_representation
from .models import POLL_STATUSES, Closure, PollStatus, Store, validate_timezone
from .services import PollInput
from .store_ids import STORE_ID_PATTERN, STORE_ID_RULE, InvalidStoreId, clean_store_id


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": f"^{STORE_ID_PATTERN}$"},
            {"type": "integer", "minimum": 0, "description": "taken as its decimal text"},
        ],
        "description": f"The store's id: {STORE_ID_RULE}; or a non-negative integer.",
    }
)
class StoreIdField(serializers.Field):
    def to_internal_value(self, data):
        try:
            return clean_store_id(data)
        except InvalidStoreId as exc:
            raise serializers.ValidationError(f"store id {exc}", code=INVALID_STORE_ID) from None
        except ValueError as exc:
            raise serializers.ValidationError(f"store id {exc}") from None

    def to_representation(self, value):
        return value


class TimezoneField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=64, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            validate_timezone(value)
        except DjangoValidationError:
            raise serializers.ValidationError(
                f"{value!r} is not a known IANA time zone name, such as America/Chicago."
            ) from None
        return value


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\s*\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*$",
        "description": "Local time HH:MM or HH:MM:SS; 24:00 (the midnight ending the day) only as an end.",
        "example": "09:00",
    }
)
class LocalTimeField(serializers.Field):
    """HH:MM[:SS] local time; 24:00 (the midnight ending the day) is allowed as an end only."""

    def __init__(self, *, is_end: bool, **kwargs):
        self.is_end = is_end
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return local_time(data, is_end=self.is_end)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: dt.time):
        return value.isoformat()


class HoursEntrySerializer(StrictSerializer):
    dayOfWeek = serializers.IntegerField(min_value=0, max_value=6)
    start_time_local = LocalTimeField(is_end=False, required=False)
    end_time_local = LocalTimeField(is_end=True, required=False)
    closed = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        problem = entry_problem(self.to_hours_input(attrs))
        if problem is not None:
            raise serializers.ValidationError(problem)
        return attrs

    @staticmethod
    def to_hours_input(attrs) -> HoursInput:
        return HoursInput(
            day_of_week=attrs["dayOfWeek"],
            start=attrs.get("start_time_local"),
            end=attrs.get("end_time_local"),
            closed=attrs["closed"],
        )


class RegisterStoreSerializer(StrictSerializer):
    """The seed's per-day form, or the week form with `business_hours`."""

    store_id = StoreIdField()
    local_timezone = TimezoneField(
        required=False, help_text="An IANA time zone name, e.g. America/New_York; America/Chicago for a new store."
    )
    dayOfWeek = serializers.IntegerField(min_value=0, max_value=6, required=False)
    start_time_local = LocalTimeField(is_end=False, required=False)
    end_time_local = LocalTimeField(is_end=True, required=False)
    business_hours = HoursEntrySerializer(
        many=True,
        required=False,
        max_length=7 * 48,
        help_text="The whole week: days left out are open all day.",
    )
    organization = serializers.CharField(
        required=False,
        max_length=150,
        help_text="For a new store of a member of several organizations: which one it belongs to.",
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=100,
        help_text="The store's groups, by name (replacing the ones you may use; others are kept). "
        "A manager limited to some groups must put a new store in at least one of them.",
    )

    day_fields = ("dayOfWeek", "start_time_local", "end_time_local")

    def validate(self, attrs):
        day_given = [name for name in self.day_fields if name in attrs]
        if day_given and "business_hours" in attrs:
            raise serializers.ValidationError("Give either dayOfWeek with its times, or business_hours, not both.")
        if day_given and len(day_given) != len(self.day_fields):
            missing = [name for name in self.day_fields if name not in attrs]
            raise serializers.ValidationError({name: ["This field is required with dayOfWeek."] for name in missing})
        if "business_hours" in attrs:
            problems = week_problems(week=[HoursEntrySerializer.to_hours_input(entry) for entry in attrs["business_hours"]])
            if problems:
                raise serializers.ValidationError({"business_hours": problems[:1]})
        return attrs

    def service_arguments(self) -> dict[str, Any]:
        attrs = self.validated_data
        arguments: dict[str, Any] = {"store_id": attrs["store_id"], "timezone": attrs.get("local_timezone")}
        if "groups" in attrs:
            arguments["groups"] = attrs["groups"]
        if "business_hours" in attrs:
            arguments["week"] = [HoursEntrySerializer.to_hours_input(entry) for entry in attrs["business_hours"]]
        elif "dayOfWeek" in attrs:
            arguments["day"] = HoursInput(
                day_of_week=attrs["dayOfWeek"], start=attrs["start_time_local"], end=attrs["end_time_local"]
            )
        return arguments


# The shapes week_representation returns, for the OpenAPI schema.
class StoreIntervalSerializer(serializers.Serializer):
    """Open from start to end, in the store's local time."""

    start_time_local = serializers.CharField(help_text="HH:MM:SS")
    end_time_local = serializers.CharField(help_text="HH:MM:SS; 24:00:00 is the midnight ending the day.")


class StoreDaySerializer(serializers.Serializer):
    """One weekday of a store's hours."""

    dayOfWeek = serializers.IntegerField(min_value=0, max_value=6, help_text="0 is Monday.")
    state = serializers.ChoiceField(["open", "closed", "open_all_day"])
    intervals = StoreIntervalSerializer(many=True, help_text="Empty unless the day is open.")


class StoreSerializer(serializers.ModelSerializer):
    business_hours = serializers.SerializerMethodField()
    organization = serializers.CharField(source="organization.name", read_only=True)
    groups = serializers.SerializerMethodField()
    last_status = serializers.ChoiceField(
        PollStatus.choices, allow_blank=True, read_only=True, help_text="Empty until the store's first poll."
    )

    class Meta:
        model = Store
        fields = [
            "store_id",
            "timezone",
            "organization",
            "groups",
            "last_poll_at",
            "last_status",
            "business_hours",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(
            child=serializers.CharField(), help_text="The store's groups that you see, by name."
        )
    )
    def get_groups(self, store: Store) -> list[str]:
        # Prefetched as the groups the user sees (stores.api_views.stores_for_api).
        return sorted(group.name for group in store.groups.all())

    @extend_schema_field(StoreDaySerializer(many=True, help_text="All seven days, Monday (0) first."))
    def get_business_hours(self, store: Store) -> list[dict[str, Any]]:
        return week_representation(store.business_hours.all())


# --------------------------------------------------------------------------
# Polls: validated by hand, not by a DRF serializer, because a batch holds up
# to 10,000 of them and this path is hot.
# --------------------------------------------------------------------------

POLL_FIELDS = frozenset({"id", "utc_timestamp", "status"})
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def poll_from_json(item: Any, *, now: dt.datetime | None = None) -> PollInput:
    """A poll from its JSON object, or PollInvalid with messages per field."""
    if not isinstance(item, dict):
        raise PollInvalid({"non_field_errors": ["Expected an object with id, utc_timestamp and status."]})
    errors: dict[str, list[str]] = {}
    for name in sorted(set(item) - POLL_FIELDS):
        errors[name] = ["Unknown field."]
    for name in sorted(POLL_FIELDS - set(item)):
        errors[name] = ["This field is required."]
    store_id = at = status = None
    code = "invalid"
    if "id" in item:
        try:
            store_id = clean_store_id(item["id"])
        except ValueError as exc:
            errors["id"] = [f"store id {exc}"]
            if isinstance(exc, InvalidStoreId):
                code = INVALID_STORE_ID
    if "utc_timestamp" in item:
        try:
            at = parse_utc_timestamp(item["utc_timestamp"])
        except ValueError as exc:
            errors["utc_timestamp"] = [str(exc)]
        else:
            now = now or django_timezone.now()
            if at > now + dt.timedelta(seconds=settings.MONITOR_MAX_CLOCK_SKEW_SECONDS):
                errors["utc_timestamp"] = [f"More than {_skew_text()} in the future."]
            elif at < _EARLIEST:
                errors["utc_timestamp"] = ["Before 1970."]
    if "status" in item:
        status = item["status"]
        # Tested for a string first: a JSON object or list is unhashable.
        if not isinstance(status, str) or status not in POLL_STATUSES:
            errors["status"] = ['Must be "active" or "inactive".']
    if errors:
        raise PollInvalid(errors, code=code)
    return PollInput(store_id=store_id, at=at, status=status)


def _skew_text() -> str:
    seconds = settings.MONITOR_MAX_CLOCK_SKEW_SECONDS
    if seconds % 60:
        return f"{seconds} seconds"
    return "1 minute" if seconds == 60 else f"{seconds // 60} minutes"


class PollInvalid(ValueError):
    """A poll the API refuses: `code` is invalid_store_id when its id breaks
    the store id rule (the message is then the id's), else invalid."""

    def __init__(self, errors: dict[str, list[str]], *, code: str = "invalid") -> None:
        super().__init__(errors)
        self.errors = errors
        self.code = code

    @property
    def message(self) -> str:
        if self.code == INVALID_STORE_ID:
            return f"id: {self.errors['id'][0]}"
        name, messages = next(iter(self.errors.items()))
        return messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"


# --------------------------------------------------------------------------
# Closures
# --------------------------------------------------------------------------

CLOSURE_TIME_HELP = (
    "A date YYYY-MM-DD (a whole local day; as `end`, the last day closed), a local time "
    "YYYY-MM-DDTHH:MM[:SS] without an offset (read in each store's zone; `end` excluded), or an "
    "instant with Z or an offset (the same for every store). start and end in one form."
)


class ClosureWriteSerializer(StrictSerializer):
    """One closure to make: of the listed stores, of a group's stores, or (neither) of every store."""

    store_ids = serializers.ListField(
        child=StoreIdField(), required=False, min_length=1, max_length=1000, help_text="The stores it covers."
    )
    group = serializers.CharField(required=False, max_length=100, help_text="Or: the stores of this group.")
    organization = serializers.CharField(
        required=False, max_length=150, help_text="With neither: whose stores (for a member of several organizations)."
    )
    start = serializers.CharField(max_length=40, help_text=CLOSURE_TIME_HELP)
    end = serializers.CharField(max_length=40, help_text=CLOSURE_TIME_HELP)
    reason = serializers.CharField(max_length=500, help_text="Why the stores are closed: required.")
    every_year = serializers.BooleanField(
        required=False, default=False, help_text="Repeat on the same local dates every year (local forms only)."
    )

    def validate(self, attrs):
        if "store_ids" in attrs and "group" in attrs:
            raise serializers.ValidationError("Give store_ids or group, not both.")
        return attrs


class ClosureChangeSerializer(StrictSerializer):
    """PATCH: the period, its repetition, or the reason (what it covers stays)."""

    start = serializers.CharField(max_length=40, required=False, help_text=CLOSURE_TIME_HELP)
    end = serializers.CharField(max_length=40, required=False, help_text=CLOSURE_TIME_HELP)
    reason = serializers.CharField(max_length=500, required=False)
    every_year = serializers.BooleanField(required=False)


class ClosureSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name", read_only=True)
    group = serializers.CharField(source="group.name", read_only=True, allow_null=True)
    store_ids = serializers.SerializerMethodField()
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.get_username", read_only=True, allow_null=True)

    class Meta:
        model = Closure
        fields = ["id", "organization", "store_ids", "group", "start", "end", "every_year", "reason", "created_by", "created_at"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(
            child=serializers.CharField(),
            allow_null=True,
            help_text="The listed stores (those you see); null when it covers a group or the whole organization.",
        )
    )
    def get_store_ids(self, closure: Closure) -> list[str] | None:
        if not closure.stores_given:
            return None
        return sorted(store.store_id for store in closure.stores.all())

    @extend_schema_field(serializers.CharField(help_text="As given: a date, a local time, or an instant in UTC."))
    def get_start(self, closure: Closure) -> str:
        return closure_texts(closure)[0]

    @extend_schema_field(serializers.CharField(help_text="As given: a date (the last day closed), a local time, or an instant in UTC."))
    def get_end(self, closure: Closure) -> str:
        return closure_texts(closure)[1]


def closure_texts(closure: Closure) -> tuple[str, str]:
    """A closure's start and end in the form they were given."""
    if not closure.is_local:
        utc = dt.timezone.utc
        return tuple(moment.astimezone(utc).strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (closure.start_at, closure.end_at))
    if closure.whole_days:
        last = dt.date.fromisoformat(closure.end_local[:10]) - dt.timedelta(days=1)
        return closure.start_local[:10], last.isoformat()
    return closure.start_local, closure.end_local
