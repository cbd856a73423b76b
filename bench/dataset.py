"""The data the benchmarks load into their databases.

For report_bench and dashboard_bench: the stores of the public Loop data
(real timezones and business hours) and, past that set or without it,
synthetic stores; hourly polls from the generator of `manage.py
generate_polls`, compressed into status spans by the span rule (core.spans,
cross-checked against polls_record), and bulk loaded with COPY.

For ingest_bench and load_test, which post polls over HTTP: an owner (the
admin of an organization of its own) with its API token, and stores of that
organization with their device keys, made by the services the API uses.

Import bench/harness.py first: it puts the project on sys.path.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import harness  # first of the project's imports: it puts the project on sys.path
from core.instants import from_micros, to_micros
from core.spans import encode_poll, spans_apply

# The poll generator of `manage.py generate_polls` (hourly, ±5 min, 2 % missed, outages).
from stores.poll_generator import Poll, generate_polls, store_rng

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import Model

    from accounts.models import Organization

# The Loop convention for a store missing from timezones.csv.
LOOP_DEFAULT_TIMEZONE = "America/Chicago"
# Synthetic stores get one of these, uniformly: US zones with and without DST,
# whole-hour and unusual rules (Phoenix, Indiana), and both oceans.
US_TIMEZONES = (
    "America/New_York",
    "America/Detroit",
    "America/Indiana/Indianapolis",
    "America/Chicago",
    "America/Denver",
    "America/Boise",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
# Stores whose polls are also fed through polls_record, to prove the bulk
# loader writes exactly the spans the service would have written.
VERIFY_SAMPLE = 5


# --------------------------------------------------------------------------
# Data shapes
# --------------------------------------------------------------------------


class HoursRow(NamedTuple):
    """One row of a store's weekly schedule, kept as the source gives it."""

    day_of_week: int
    start: dt.time
    end: dt.time


@dataclass
class StoreSpec:
    """A store to load: its id, timezone and weekly schedule."""

    store_id: str
    timezone: str
    hours: list[HoursRow] = field(default_factory=list)
    synthetic: bool = False


class SpanRow(NamedTuple):
    """A status span before it is written: instants in microseconds since the epoch."""

    active: bool
    first_poll: int
    last_poll: int
    poll_count: int


# --------------------------------------------------------------------------
# Stores and schedules
# --------------------------------------------------------------------------


def load_loop_stores(data_dir: Path) -> list[StoreSpec]:
    """Stores of timezones.csv, then those only in menu_hours.csv (Loop default
    timezone), each with its menu_hours rows; [] when the folder is missing."""
    timezones_csv, hours_csv = data_dir / "timezones.csv", data_dir / "menu_hours.csv"
    if not timezones_csv.is_file() or not hours_csv.is_file():
        return []
    stores: dict[str, StoreSpec] = {}
    with timezones_csv.open(newline="", encoding="utf-8-sig") as file:
        for row in csv.DictReader(file):
            stores[row["store_id"]] = StoreSpec(row["store_id"], row["timezone_str"])
    with hours_csv.open(newline="", encoding="utf-8-sig") as file:
        for row in csv.DictReader(file):
            spec = stores.get(row["store_id"])
            if spec is None:
                spec = stores[row["store_id"]] = StoreSpec(row["store_id"], LOOP_DEFAULT_TIMEZONE)
            # loop-2023 names the column `day`, loop-2024 `dayOfWeek`.
            day = int(row.get("day") or row["dayOfWeek"])
            start = dt.time.fromisoformat(row["start_time_local"])
            end = dt.time.fromisoformat(row["end_time_local"])
            spec.hours.append(HoursRow(day, start, end))
    return list(stores.values())


def _clock(rng: random.Random, low_hour: int, high_hour: int) -> int:
    """A random time of day in half hours between the two hours, as minutes."""
    return rng.randrange(low_hour * 2, high_hour * 2 + 1) * 30


def _day_intervals(rng: random.Random) -> list[tuple[dt.time, dt.time]]:
    """One day's hours, in the shapes restaurants have (and the engine must handle)."""
    kind = rng.random()
    if kind < 0.05:  # open all day, written the Loop way
        return [(dt.time(0, 0), dt.time(23, 59, 59))]
    if kind < 0.20:  # lunch and dinner
        lunch = _clock(rng, 10, 12)
        dinner = _clock(rng, 16, 18)
        return [
            (_minutes_to_time(lunch), _minutes_to_time(lunch + _clock(rng, 2, 4))),
            (_minutes_to_time(dinner), _minutes_to_time(dinner + _clock(rng, 4, 6))),
        ]
    start = _clock(rng, 6, 12)
    end = start + _clock(rng, 8, 16)
    if end >= 24 * 60:
        # Past midnight: most close at the end of the day, some overnight
        # (end before start), a shape the Loop data lacks but stores have.
        if rng.random() < 0.7:
            return [(_minutes_to_time(start), dt.time(23, 59, 59))]
        end = min(end, 24 * 60 + 3 * 60)
    return [(_minutes_to_time(start), _minutes_to_time(end))]


def _minutes_to_time(minutes: int) -> dt.time:
    minutes %= 24 * 60
    return dt.time(minutes // 60, minutes % 60)


def synthetic_schedule(rng: random.Random) -> list[HoursRow]:
    """A random week shaped like the Loop data: about a fifth of the stores
    have no rows (open all week); the others have the same hours most days,
    with different weekend hours and a few days left out (open all day)."""
    if rng.random() < 0.18:
        return []
    weekday = _day_intervals(rng)
    weekend = _day_intervals(rng) if rng.random() < 0.3 else weekday
    rows: list[HoursRow] = []
    for day in range(7):
        if rng.random() < 0.08:
            continue
        rows.extend(HoursRow(day, start, end) for start, end in (weekend if day >= 5 else weekday))
    return rows


def synthetic_stores(count: int, taken: set[str], seed: int) -> list[StoreSpec]:
    """Stores with random 63-bit integer ids (like the Loop ids, so sorting and
    lengths behave alike), random schedules and random US timezones."""
    rng = random.Random(f"{seed}/synthetic")
    stores: list[StoreSpec] = []
    while len(stores) < count:
        store_id = str(rng.getrandbits(63))
        if store_id in taken:
            continue
        taken.add(store_id)
        stores.append(StoreSpec(store_id, rng.choice(US_TIMEZONES), synthetic_schedule(rng), synthetic=True))
    return stores


def select_stores(data_dir: Path, count: int | None, seed: int) -> list[StoreSpec]:
    """Every Loop store (count None), or `count` stores: the Loop stores
    first, then synthetic ones. Prints how many of each."""
    with harness.step("select stores"):
        real = load_loop_stores(data_dir)
        if count is None:
            if not real:
                raise SystemExit(f"no Loop data in {data_dir}: give --stores N to benchmark synthetic stores")
            stores = real
        elif count <= len(real):
            stores = real[:count]
        else:
            stores = real + synthetic_stores(count - len(real), {spec.store_id for spec in real}, seed)
    synthetic = sum(spec.synthetic for spec in stores)
    print(f"  {len(stores):,} stores ({len(stores) - synthetic:,} from {data_dir}, {synthetic:,} synthetic)")
    return stores


# --------------------------------------------------------------------------
# Polls and spans
# --------------------------------------------------------------------------


def compress(polls: Sequence[Poll], stale_after: int) -> list[SpanRow]:
    """Spans of time-ordered polls, by the span rule (core.spans) that
    polls_record and the Loop import apply."""
    result = spans_apply(
        polls=[encode_poll(at, active) for at, active in polls], open_span=None, latest=None, stale_after=stale_after
    )
    return [SpanRow(span.active, span.first, span.last, span.count) for span in result.new]


def generate_spans(
    stores: Sequence[StoreSpec], *, seed: int, start: int, hours: int
) -> tuple[dict[str, list[SpanRow]], int]:
    """Each store's spans of `hours` hourly polls from `start` (microseconds),
    and the number of polls. Needs Django set up (the stale period is a setting)."""
    from stores.models import stale_after

    stale = stale_after()
    spans: dict[str, list[SpanRow]] = {}
    polls_total = 0
    for spec in stores:
        polls = generate_polls(store_rng(seed, spec.store_id), start, hours)
        polls_total += len(polls)
        spans[spec.store_id] = compress(polls, stale)
    return spans, polls_total


def verify_compression(
    organization: Organization,
    stores: Sequence[StoreSpec],
    spans: dict[str, list[SpanRow]],
    *,
    seed: int,
    start: int,
    hours: int,
) -> None:
    """Feed a few stores' polls through polls_record and compare its spans
    with `spans`, in a transaction that is rolled back. The stores are those
    with the most spans among the first ones: gaps, outages and cuts."""
    from django.db import transaction

    from stores.models import PollStatus, Store
    from stores.services import PollInput, polls_record

    sample = sorted(stores[:500], key=lambda spec: len(spans[spec.store_id]), reverse=True)[:VERIFY_SAMPLE]
    with transaction.atomic():
        for index, spec in enumerate(sample):
            polls = generate_polls(store_rng(seed, spec.store_id), start, hours)
            store = Store.objects.create(
                store_id=f"bench-verify-{index}",
                organization=organization,
                device_key_hash=hashlib.sha256(f"bench-verify-{index}".encode()).hexdigest(),
            )
            inputs = [
                PollInput(store.store_id, from_micros(at), PollStatus.ACTIVE if active else PollStatus.INACTIVE)
                for at, active in polls
            ]
            polls_record(polls=inputs, stores=Store.objects.filter(pk=store.pk))
            written = [
                SpanRow(status == PollStatus.ACTIVE, to_micros(first), to_micros(last), count)
                for status, first, last, count in store.spans.order_by("first_poll_at").values_list(
                    "status", "first_poll_at", "last_poll_at", "poll_count"
                )
            ]
            if written != spans[spec.store_id]:
                raise SystemExit(f"span compression differs from polls_record for sample store {index}")
        transaction.set_rollback(True)


# --------------------------------------------------------------------------
# Bulk load
# --------------------------------------------------------------------------


def load_database(
    organization: Organization, stores: Sequence[StoreSpec], spans: dict[str, list[SpanRow]]
) -> tuple[int, int]:
    """Stores of `organization` (with their latest poll), business hours and
    spans; returns the numbers of hours rows and span rows written."""
    from django.db import transaction
    from django.utils import timezone

    from common.bulk_writes import insert_rows
    from stores.models import BusinessHours, PollStatus, StatusSpan, Store

    def status(active: bool) -> str:
        return PollStatus.ACTIVE.value if active else PollStatus.INACTIVE.value

    now = timezone.now()

    def store_rows() -> Iterator[tuple[object, ...]]:
        for spec in stores:
            latest = spans[spec.store_id][-1] if spans[spec.store_id] else None
            yield (
                spec.store_id,
                organization.pk,
                spec.timezone,
                # Unique and deterministic; no device ever posts with it.
                hashlib.sha256(spec.store_id.encode()).hexdigest(),
                from_micros(latest.last_poll) if latest else None,
                status(latest.active) if latest else "",
                False,  # no open incident
                now,
                now,
            )

    with transaction.atomic():
        insert_rows(
            Store,
            (
                "store_id",
                "organization_id",
                "timezone",
                "device_key_hash",
                "last_poll_at",
                "last_status",
                "incident_open",
                "created_at",
                "updated_at",
            ),
            store_rows(),
        )
        pks = dict(Store.objects.values_list("store_id", "pk"))
        hours_rows = insert_rows(
            BusinessHours,
            ("store", "day_of_week", "start_time_local", "end_time_local", "closed"),
            ((pks[spec.store_id], row.day_of_week, row.start, row.end, False) for spec in stores for row in spec.hours),
        )
        span_rows = insert_rows(
            StatusSpan,
            ("store", "status", "first_poll_at", "last_poll_at", "poll_count"),
            (
                (
                    pks[spec.store_id],
                    status(span.active),
                    from_micros(span.first_poll),
                    from_micros(span.last_poll),
                    span.poll_count,
                )
                for spec in stores
                for span in spans[spec.store_id]
            ),
        )
    vacuum_analyze(Store, BusinessHours, StatusSpan)
    return hours_rows, span_rows


def vacuum_analyze(*models: type[Model]) -> None:
    """Fresh planner statistics and visibility map for the models' tables, as
    autovacuum would have left them on a live database after these writes:
    without them the first requests would measure a cold, unanalysed table
    rather than the code. (SQLite: ANALYZE.)"""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("ANALYZE")
            return
        for model in models:
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')


# --------------------------------------------------------------------------
# An owner and stores that post over HTTP
# --------------------------------------------------------------------------


class DeviceStore(NamedTuple):
    store_id: str
    device_key: str  # the plain key its device posts with


class Owner(NamedTuple):
    user: AbstractBaseUser
    organization: Organization  # the one it administers, named after it
    token: str  # its API token key


def create_owner(username: str) -> Owner:
    """An owner account (the admin of a new organization of the same name)
    and its API token key, as `manage.py create_owner` makes them."""
    from accounts.models import Role
    from accounts.selectors import organizations_of
    from accounts.services import owner_create

    user, token = owner_create(username=username, password=secrets.token_urlsafe(24))
    return Owner(user, organizations_of(user, role=Role.ADMIN).get(), token)


def create_stores(organization: Organization, prefix: str, count: int) -> list[DeviceStore]:
    """Stores `<prefix>-00000`... through the service that creates them, so
    each has a real device key."""
    from django.db import transaction

    from stores.services import store_create

    stores = []
    with transaction.atomic():
        for index in range(count):
            store_id = f"{prefix}-{index:05d}"
            created = store_create(organization=organization, store_id=store_id, timezone="America/New_York")
            stores.append(DeviceStore(store_id, created.device_key))
    return stores
