"""Writes to stores, business hours and status spans."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from simple_history.utils import bulk_create_with_history

from accounts.models import Organization, StoreGroup
from accounts.secrets import new_secret
from common.bulk_writes import insert_rows, update_rows
from core.closures import ClosurePeriod
from core.instants import from_micros, to_micros
from core.spans import LatestPoll, SpanRun, StorePolls, Verdict, encode_poll, spans_apply

from .hours import HoursInput
from .models import DEFAULT_TIMEZONE, BusinessHours, Closure, PollStatus, StatusSpan, Store, stale_after, validate_timezone
from .selectors import store_latest_spans
from .signals import store_recovered
from .store_ids import clean_store_id


class StoreIdTaken(Exception):
    """The store id is registered in another organization (or, for store_create, in any)."""


class StoreCreated(NamedTuple):
    store: Store
    # The plain device key: it is not stored, so this is the only time it exists.
    device_key: str


class RegisterResult(NamedTuple):
    store: Store
    created: bool
    # The plain device key, only when the store was created: it is not stored.
    device_key: str | None


def _hours_rows(store: Store, entries: Sequence[HoursInput]) -> list[BusinessHours]:
    return [
        BusinessHours(
            store=store,
            day_of_week=entry.day_of_week,
            start_time_local=None if entry.closed else entry.start,
            end_time_local=None if entry.closed else entry.end,
            closed=entry.closed,
        )
        for entry in entries
    ]


def _store_insert(
    *, organization: Organization, store_id: str, timezone: str | None, alert_grace_minutes: int | None = None
) -> StoreCreated:
    key, key_hash = new_secret()
    store = Store.objects.create(
        store_id=store_id,
        organization=organization,
        timezone=timezone or DEFAULT_TIMEZONE,
        device_key_hash=key_hash,
        alert_grace_minutes=alert_grace_minutes,
    )
    return StoreCreated(store, key)


def store_create(
    *, organization: Organization, store_id: str, timezone: str | None = None, alert_grace_minutes: int | None = None
) -> StoreCreated:
    """Create a store with a new device key; StoreIdTaken if the id exists,
    in whichever organization (unlike store_register, this never updates a
    store); InvalidStoreId for an id outside the rule. `alert_grace_minutes`:
    its own grace period (None: its organization's)."""
    clean_store_id(store_id)
    validate_timezone(timezone or DEFAULT_TIMEZONE)
    try:
        with transaction.atomic():
            return _store_insert(
                organization=organization, store_id=store_id, timezone=timezone, alert_grace_minutes=alert_grace_minutes
            )
    except IntegrityError:
        # The only other unique column is the hash of a fresh 256-bit key.
        raise StoreIdTaken(store_id) from None


def store_register(
    *,
    organization: Organization,
    store_id: str,
    timezone: str | None = None,
    week: Sequence[HoursInput] | None = None,
    day: HoursInput | None = None,
    groups: Sequence[StoreGroup] | None = None,
) -> RegisterResult:
    """Create a store in an organization, or update its timezone, hours and groups.

    `week` replaces the whole schedule (days not in it become open all day);
    `day` replaces one weekday's hours, leaving the others as they are;
    `groups` (the organization's) replaces the store's groups. StoreIdTaken
    when the id is registered in another organization; InvalidStoreId for an
    id outside the rule. Whether the caller may do this is the access rule's
    to say (stores.access), before calling.
    """
    if week is not None and day is not None:
        raise ValueError("give either a week or a day, not both")
    clean_store_id(store_id)
    arguments = dict(organization=organization, store_id=store_id, timezone=timezone, week=week, day=day, groups=groups)
    try:
        return _store_register(**arguments)
    except IntegrityError:
        # Two requests registered the same new id at once and this one lost
        # the insert: the store exists now, so registering again updates it.
        return _store_register(**arguments)


def _store_register(
    *,
    organization: Organization,
    store_id: str,
    timezone: str | None,
    week: Sequence[HoursInput] | None,
    day: HoursInput | None,
    groups: Sequence[StoreGroup] | None,
) -> RegisterResult:
    if groups is not None and any(group.organization_id != organization.pk for group in groups):
        raise ValueError("a store's groups are its organization's")
    with transaction.atomic():
        store = Store.objects.select_for_update().filter(store_id=store_id).first()
        device_key = None
        created = store is None
        if created:
            store, device_key = _store_insert(organization=organization, store_id=store_id, timezone=timezone)
        else:
            if store.organization_id != organization.pk:
                raise StoreIdTaken(store_id)
            if timezone and timezone != store.timezone:
                store.timezone = timezone
            store.save()
        if groups is not None:
            store.groups.set(groups)
        if week is not None:
            store.business_hours.all().delete()
            bulk_create_with_history(_hours_rows(store, week), BusinessHours)
        elif day is not None:
            store.business_hours.filter(day_of_week=day.day_of_week).delete()
            bulk_create_with_history(_hours_rows(store, [day]), BusinessHours)
    return RegisterResult(store, created, device_key)


class StoreRenameRefused(ValueError):
    """A renaming that cannot be applied; the message lists every problem."""


def stores_rename(*, renames: dict[str, str]) -> int:
    """Give stores new ids (old id -> new id), all or none, in one transaction;
    returns how many. For ids registered before the store id rule: the new
    ids must follow it, and be free. The stores keep everything else."""
    problems = []
    for old, new in renames.items():
        try:
            clean_store_id(new)
        except ValueError as exc:
            problems.append(f"{new!r} (for {old!r}): store id {exc}")
    new_ids = list(renames.values())
    problems.extend(f"{new!r} is given to more than one store" for new in sorted({n for n in new_ids if new_ids.count(n) > 1}))
    with transaction.atomic():
        found = set(Store.objects.filter(store_id__in=list(renames)).values_list("store_id", flat=True))
        problems.extend(f"no store has the id {old!r}" for old in renames if old not in found)
        taken = set(Store.objects.filter(store_id__in=new_ids).values_list("store_id", flat=True))
        problems.extend(f"{new!r} is the id of another store already" for new in sorted(taken))
        if problems:
            raise StoreRenameRefused("; ".join(problems))
        for old, new in renames.items():
            Store.objects.filter(store_id=old).update(store_id=new)
    return len(renames)


def store_rotate_device_key(*, store: Store) -> str:
    """Give the store a new device key; the old one stops working at once."""
    key, key_hash = new_secret()
    Store.objects.filter(pk=store.pk).update(device_key_hash=key_hash)
    store.device_key_hash = key_hash
    return key


# --------------------------------------------------------------------------
# Polls
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PollInput:
    store_id: str
    at: dt.datetime
    status: str


class PollOutcome(NamedTuple):
    http_status: int
    code: str
    message: str


RECORDED = PollOutcome(201, "recorded", "Poll recorded.")
REPEAT = PollOutcome(200, "repeat", "Same as the store's latest poll; nothing changed.")
UNKNOWN_STORE = PollOutcome(404, "unknown_store", "No such store.")
OTHER_STORE = PollOutcome(403, "other_store", "This device key may post polls only for its own store.")
OLDER_THAN_LATEST = PollOutcome(
    409, "older_than_latest", "Older than the store's latest poll; polls must arrive in time order."
)
CONFLICTING_STATUS = PollOutcome(
    409, "conflicting_status", "The store's latest poll has this timestamp with the other status."
)


# What the span rule's verdict on a poll (core.spans) answers.
_VERDICT_OUTCOMES = {
    Verdict.RECORDED: RECORDED,
    Verdict.REPEAT: REPEAT,
    Verdict.OLDER: OLDER_THAN_LATEST,
    Verdict.CONFLICT: CONFLICTING_STATUS,
}
# The store fields polls_record reads and writes.
_LOCKED_FIELDS = ("store_id", "last_poll_at", "last_status", "incident_open")


def _locked_store(store_id: str) -> list[Store]:
    """The store with this id ([] if none), its row locked until the
    transaction ends, with _LOCKED_FIELDS (the others deferred).

    Written in SQL: a device's poll runs this, and building and compiling the
    ORM's statement (polls_record's for a scope of stores) was a noticeable
    share of a poll's CPU in the web server (bench/RESULTS.md).
    """
    quote = connection.ops.quote_name
    meta = Store._meta
    columns = ", ".join(quote(field.column) for field in [meta.pk, *map(meta.get_field, _LOCKED_FIELDS)])
    statement = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('store_id').column)} = %s"
    if connection.features.has_select_for_update:  # as select_for_update(), which SQLite ignores
        statement += " FOR UPDATE"
    return list(Store.objects.raw(statement, [store_id]))


def _was_down(store: Store, polls: Sequence[PollInput], places: list[int], stale: dt.timedelta) -> bool:
    """Whether the store was down before the batch: its latest poll inactive,
    or stale by the batch's first poll for it (never polled: not monitored, never down)."""
    if store.last_poll_at is None:
        return False
    first = min(polls[place].at for place in places)
    return store.last_status == PollStatus.INACTIVE or first - store.last_poll_at >= stale


def _recovered(
    stores: Iterable[Store],
    polls: Sequence[PollInput],
    places: dict[int, list[int]],
    verdicts: dict[int, list[Verdict]],
    was_down: set[int],
) -> dict[int, dt.datetime]:
    """Stores that were down before the batch (or have an open incident) and
    whose latest recorded poll of the batch is active: {pk: its instant}.
    Their down run has just ended, and with it any incident it had, even one
    that opened since the last monitor_alerts pass."""
    recovered = {}
    for store in stores:
        if store.pk not in places or not (store.incident_open or store.pk in was_down):
            continue
        recorded = [polls[place] for place, verdict in zip(places[store.pk], verdicts[store.pk]) if verdict is Verdict.RECORDED]
        if recorded and recorded[-1].status == PollStatus.ACTIVE:
            recovered[store.pk] = recorded[-1].at
    return recovered


def polls_record(
    *, polls: Sequence[PollInput], stores: QuerySet[Store] | None, device_store: Store | None = None
) -> list[PollOutcome]:
    """Apply polls in order and answer one outcome per poll.

    `stores` are the stores the caller may post for; `device_store` is set when
    a device key posts, and then `stores` may be None: a device may post for
    its own store only, whoever owns it. One transaction for the batch, with
    the stores' rows locked (in primary key order, so two batches cannot
    deadlock), so concurrent polls for a store are applied one after the
    other. The span rule (core.spans) decides each poll; the writes are
    batched, so the number of queries does not grow with the number of polls.
    """
    if stores is None and device_store is None:
        raise ValueError("give the stores the caller may post for, or the device's store")
    wanted = {poll.store_id for poll in polls}
    if device_store is not None:
        wanted &= {device_store.store_id}
    outcomes: list[PollOutcome | None] = [None] * len(polls)
    active = PollStatus.ACTIVE.value
    with transaction.atomic():
        locked: Iterable[Store] = ()
        if wanted and stores is None:
            assert device_store is not None  # as checked above; wanted is {its store_id}
            locked = _locked_store(device_store.store_id)
        elif wanted and stores is not None:
            # Only the fields polls are checked against and written to: less to read and build.
            locked = stores.filter(store_id__in=wanted).select_for_update().order_by("pk").only(*_LOCKED_FIELDS)
        by_id = {store.store_id: store for store in locked}
        # Each store's polls in the order posted, and where each stands in the batch.
        encoded: dict[int, list[int]] = {}
        places: dict[int, list[int]] = {}
        for place, poll in enumerate(polls):
            if device_store is not None and poll.store_id != device_store.store_id:
                outcomes[place] = OTHER_STORE
                continue
            store = by_id.get(poll.store_id)
            if store is None:
                outcomes[place] = UNKNOWN_STORE
                continue
            encoded.setdefault(store.pk, []).append(encode_poll(to_micros(poll.at), poll.status == active))
            places.setdefault(store.pk, []).append(place)
        stale = dt.timedelta(microseconds=stale_after())
        was_down = {store.pk for store in by_id.values() if store.pk in places and _was_down(store, polls, places[store.pk], stale)}
        verdicts: dict[int, list[Verdict]] = {}
        store_polls_apply(stores=by_id.values(), polls=encoded, verdicts=verdicts)
        for store_pk, store_places in places.items():
            for place, verdict in zip(store_places, verdicts[store_pk]):
                outcomes[place] = _VERDICT_OUTCOMES[verdict]
        recovered = _recovered(by_id.values(), polls, places, verdicts, was_down)
        if recovered:
            store_recovered.send(sender=Store, recovered=recovered)
    return outcomes  # type: ignore[return-value]  # every place has its outcome now


class LockedStore(NamedTuple):
    """What applying polls reads of a store whose row the caller has locked."""

    pk: int
    last_poll_at: dt.datetime | None
    last_status: str


def store_polls_apply(
    *,
    stores: Iterable[LockedStore | Store],
    polls: dict[int, Sequence[int]],
    verdicts: dict[int, list[Verdict]] | None = None,
    copy: bool = False,
) -> dict[int, StorePolls]:
    """Apply each store's encoded polls (core.spans.encode_poll, by store pk)
    by the span rule after its latest poll and open span, and write what
    changed: new spans, the extended open span, the store's latest poll.

    polls_record and the Loop import both come here, in their transaction,
    with the stores' rows locked. `verdicts`, when given, gets each store's
    verdicts, poll by poll; `copy` writes new spans with COPY on PostgreSQL
    (the import's hundreds of thousands), else with INSERTs.
    """
    stale = stale_after()
    active, inactive = PollStatus.ACTIVE.value, PollStatus.INACTIVE.value
    stores = [store for store in stores if store.pk in polls]
    open_spans = store_latest_spans(store_pks=[store.pk for store in stores if store.last_poll_at is not None])
    results: dict[int, StorePolls] = {}
    new_spans: list[tuple[int, SpanRun]] = []
    extended: list[StatusSpan] = []
    changed_stores: list[Store] = []
    for store in stores:
        span = open_spans.get(store.pk)
        open_span = None if span is None else SpanRun(
            span.status == active, to_micros(span.first_poll_at), to_micros(span.last_poll_at), span.poll_count, span.pk
        )
        store_verdicts = None if verdicts is None else verdicts.setdefault(store.pk, [])
        result = results[store.pk] = spans_apply(
            polls=polls[store.pk],
            open_span=open_span,
            latest=None if store.last_poll_at is None else LatestPoll(to_micros(store.last_poll_at), store.last_status == active),
            stale_after=stale,
            verdicts=store_verdicts,
        )
        if not result.recorded:
            continue
        new_spans.extend((store.pk, run) for run in result.new)
        if result.extended is not None:
            run = result.extended
            extended.append(StatusSpan(pk=run.pk, last_poll_at=from_micros(run.last), poll_count=run.count))
        changed_stores.append(
            Store(pk=store.pk, last_poll_at=from_micros(result.latest), last_status=active if result.latest_active else inactive)
        )
    update_rows(StatusSpan, extended, ["last_poll_at", "poll_count"])
    if copy:
        insert_rows(
            StatusSpan,
            ("store", "status", "first_poll_at", "last_poll_at", "poll_count"),
            (
                (pk, active if run.active else inactive, from_micros(run.first), from_micros(run.last), run.count)
                for pk, run in new_spans
            ),
        )
    elif new_spans:
        StatusSpan.objects.bulk_create(
            [
                StatusSpan(
                    store_id=pk,
                    status=active if run.active else inactive,
                    first_poll_at=from_micros(run.first),
                    last_poll_at=from_micros(run.last),
                    poll_count=run.count,
                )
                for pk, run in new_spans
            ],
            batch_size=1000,
        )
    update_rows(Store, changed_stores, ["last_poll_at", "last_status"])
    return results


def spans_prune(*, older_than: dt.datetime) -> int:
    """Delete spans whose last poll is before `older_than`; returns how many.

    Each store's latest span is kept whatever its age: it is what says a
    silent store has been down since, and a new poll may extend it.
    """
    deleted, _ = (
        StatusSpan.objects.filter(last_poll_at__lt=older_than)
        .exclude(last_poll_at=F("store__last_poll_at"))
        .delete()
    )
    return deleted


# --------------------------------------------------------------------------
# Closures
# --------------------------------------------------------------------------


def _closure_period_fields(period: ClosurePeriod, every_year: bool) -> dict:
    if period.local:
        return {
            "start_local": period.start.strftime("%Y-%m-%dT%H:%M:%S"),
            "end_local": period.end.strftime("%Y-%m-%dT%H:%M:%S"),
            "whole_days": period.whole_days,
            "start_at": None,
            "end_at": None,
            "every_year": every_year,
        }
    return {"start_local": "", "end_local": "", "whole_days": False, "start_at": period.start, "end_at": period.end, "every_year": False}


def closure_create(
    *,
    organization: Organization,
    period: ClosurePeriod,
    reason: str,
    created_by: AbstractBaseUser | None,
    stores: Sequence[Store] | None = None,
    group: StoreGroup | None = None,
    every_year: bool = False,
) -> Closure:
    """A closure of the listed stores, or of a group's stores, or (neither)
    of every store of the organization. The caller has checked the user may
    (the stores and group are theirs to manage: stores.access)."""
    if stores is not None and group is not None:
        raise ValueError("a closure covers listed stores or a group, not both")
    with transaction.atomic():
        closure = Closure.objects.create(
            organization=organization,
            group=group,
            stores_given=stores is not None,
            reason=reason,
            created_by=created_by,
            **_closure_period_fields(period, every_year),
        )
        if stores:
            closure.stores.set(stores)
    return closure


def closure_update(
    *, closure: Closure, period: ClosurePeriod | None = None, every_year: bool | None = None, reason: str | None = None
) -> Closure:
    """Change a closure's period, repetition or reason (what it covers stays)."""
    if period is not None:
        fields = _closure_period_fields(period, closure.every_year if every_year is None else every_year)
        for name, value in fields.items():
            setattr(closure, name, value)
    elif every_year is not None:
        closure.every_year = every_year
    if reason is not None:
        closure.reason = reason
    closure.save()
    return closure


def closure_covered_stores(*, closure: Closure) -> QuerySet[Store]:
    """The stores a closure covers now."""
    if closure.stores_given:
        return closure.stores.all()
    if closure.group_id is not None:
        return Store.objects.filter(groups=closure.group_id)
    return Store.objects.filter(organization_id=closure.organization_id)
