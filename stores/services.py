"""Writes to stores, business hours and status spans."""
from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Max, Min, QuerySet
from django.db.models.expressions import RawSQL
from simple_history.utils import bulk_create_with_history

from accounts.models import Organization, StoreGroup
from accounts.secrets import new_secret
from common.bulk_writes import insert_rows, update_rows
from common.expressions import EpochMicroseconds
from core.closures import ClosurePeriod
from core.instants import from_micros, to_micros
from core.spans import LatestPoll, SpanRun, StorePolls, Verdict, encode_poll, spans_apply

from .device_keys import DeviceStore, device_key_forget
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
    """Give the store a new device key; the old one stops working at once for
    polls (polls_record checks the key against the locked row), and for
    anything else (a device key may only post polls) once the processes'
    lookups of it expire (stores.device_keys: this one forgets it now)."""
    key, key_hash = new_secret()
    Store.objects.filter(pk=store.pk).update(device_key_hash=key_hash)
    store.device_key_hash = key_hash
    device_key_forget(store_pk=store.pk)
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
# The store fields the batch path reads and writes (the others deferred).
_LOCKED_FIELDS = ("store_id", "last_poll_at", "last_status", "incident_open")


class DeviceKeyInvalid(Exception):
    """The device key a request was authenticated with is no longer its
    store's: rotated since (stores.device_keys caches the lookup for a few
    seconds). Nothing was written; the API answers it as any wrong key (401
    authentication_failed)."""


class LockedDeviceStore(NamedTuple):
    """A device's store as its poll reads it, row locked, with its latest span."""

    pk: int
    store_id: str
    device_key_hash: str
    incident_open: bool
    last_status: str
    # Its latest poll, microseconds since the epoch (None: never polled).
    last_poll: int | None
    # Its latest span, the one a newer poll may extend (None: it has none).
    open_span: SpanRun | None

    @property
    def last_poll_at(self) -> dt.datetime | None:
        return None if self.last_poll is None else from_micros(self.last_poll)


class _DeviceStatements(NamedTuple):
    # The store's row, locked, and its latest span: one statement.
    lock: str
    # The latest span alone (see _device_store_lock).
    latest_span: str
    # (extends a span, opens one) -> [(statement, how many parameters)]: its writes.
    writes: dict[tuple[bool, bool], list[tuple[str, int]]]


# One set per database vendor, built once per process (_device_statements).
_DEVICE_STATEMENTS: dict[str, _DeviceStatements] = {}


def _epoch_micros_sql(db: BaseDatabaseWrapper, column: str) -> str:
    """common.expressions.EpochMicroseconds of a column, as SQL (built once, with the statements)."""
    compiler = Store.objects.none().query.get_compiler(connection=db)
    sql, params = compiler.compile(EpochMicroseconds(RawSQL(column, ())))
    assert not params
    return sql


def _device_statements(db: BaseDatabaseWrapper) -> _DeviceStatements:
    """A device's poll's statements, in SQL with parameters only: built
    once per process, so no ORM statement is built or compiled per poll
    (that was most of a poll's CPU in the web server: bench/RESULTS.md)."""
    statements = _DEVICE_STATEMENTS.get(db.vendor)
    if statements is not None:
        return statements
    quote = db.ops.quote_name
    store_meta, span_meta = Store._meta, StatusSpan._meta
    stores, spans = quote(store_meta.db_table), quote(span_meta.db_table)

    def store_column(name: str) -> str:
        return quote(store_meta.get_field(name).column)

    def span_column(name: str) -> str:
        return quote(span_meta.get_field(name).column)

    latest_span = (
        f"SELECT {span_column('id')} AS span_id, {span_column('status')} AS span_status,"
        f" {_epoch_micros_sql(db, span_column('first_poll_at'))} AS span_first,"
        f" {_epoch_micros_sql(db, span_column('last_poll_at'))} AS span_last, {span_column('poll_count')} AS span_count"
        f" FROM {spans} WHERE {span_column('store')} = %s ORDER BY {span_column('first_poll_at')} DESC LIMIT 1"
    )
    columns = ", ".join(
        [f"s.{store_column(name)}" for name in ("id", "store_id", "device_key_hash", "incident_open", "last_status")]
        + [_epoch_micros_sql(db, f"s.{store_column('last_poll_at')}")]
        + [f"latest.{name}" for name in ("span_id", "span_status", "span_first", "span_last", "span_count")]
    )
    # The span as a subquery of the store's pk (a parameter, so no LATERAL:
    # the same SQL on SQLite), joined to the store's row; only that row is
    # locked (SQLite has no row locks: its transactions take the database's
    # write lock at BEGIN, settings.DATABASES).
    lock = f"SELECT {columns} FROM {stores} s LEFT JOIN ({latest_span}) latest ON 1 = 1 WHERE s.{store_column('id')} = %s"
    if db.features.has_select_for_update_of:
        lock += " FOR UPDATE OF s"
    elif db.features.has_select_for_update:
        lock += " FOR UPDATE"

    extend = (
        f"UPDATE {spans} SET {span_column('last_poll_at')} = %s, {span_column('poll_count')} = %s"
        f" WHERE {span_column('id')} = %s",
        3,
    )
    span_fields = ", ".join(span_column(name) for name in ("store", "status", "first_poll_at", "last_poll_at", "poll_count"))
    open_ = (f"INSERT INTO {spans} ({span_fields}) VALUES (%s, %s, %s, %s, %s)", 5)
    latest_poll = (
        f"UPDATE {stores} SET {store_column('last_poll_at')} = %s, {store_column('last_status')} = %s"
        f" WHERE {store_column('id')} = %s",
        3,
    )
    writes: dict[tuple[bool, bool], list[tuple[str, int]]] = {}
    for extends, opens in ((True, False), (False, True), (True, True)):
        parts = [part for part, wanted in ((extend, extends), (open_, opens)) if wanted]
        if db.vendor == "postgresql":
            # Data-modifying CTEs: the span's write and the store's in one
            # statement (they touch different tables, so their order does not matter).
            ctes = ", ".join(f"span_{index} AS ({statement})" for index, (statement, _) in enumerate(parts))
            writes[extends, opens] = [
                (f"WITH {ctes} {latest_poll[0]}", sum(count for _, count in parts) + latest_poll[1])
            ]
        else:
            # SQLite has no data-modifying CTEs: a statement each.
            writes[extends, opens] = [*parts, latest_poll]
    statements = _DEVICE_STATEMENTS[db.vendor] = _DeviceStatements(lock, latest_span, writes)
    return statements


def _span_run(span_id, status, first, last, count) -> SpanRun | None:
    if span_id is None:
        return None
    return SpanRun(status == PollStatus.ACTIVE.value, first, last, count, span_id)


def _device_store_lock(db: BaseDatabaseWrapper, cursor, store_pk: int) -> LockedDeviceStore | None:
    """The store's row, locked until the transaction ends, with its latest
    span, in one statement; None if there is no such store.

    The span is read with the store's row, but only the row is locked: when
    the statement had to wait for the row's lock, PostgreSQL reads the row
    again as the other transaction left it, yet the span as it was when the
    statement began (READ COMMITTED's re-check reads only the locked rows
    afresh). A store's latest span ends at its latest poll (polls_record and
    the import write both together; spans_prune keeps it), so a span that
    does not is read again, in a statement of its own, which sees what the
    other transaction committed.
    """
    statements = _device_statements(db)
    cursor.execute(statements.lock, [store_pk, store_pk])
    row = cursor.fetchone()
    if row is None:
        return None
    pk, store_id, key_hash, incident_open, last_status, last_poll, *span = row
    open_span = _span_run(*span)
    if last_poll is not None and (open_span is None or open_span.last != last_poll):
        cursor.execute(statements.latest_span, [store_pk])
        latest = cursor.fetchone()
        open_span = None if latest is None else _span_run(*latest)
    return LockedDeviceStore(pk, store_id, key_hash, bool(incident_open), last_status, last_poll, open_span)


def _store_changes_write(db: BaseDatabaseWrapper, cursor, store_pk: int, result: StorePolls) -> bool:
    """Write what a store's polls changed (its extended span, a new span, its
    latest poll) in one statement on PostgreSQL, a statement each on SQLite;
    False, writing nothing, when they do not fit (more than one new span)."""
    if not result.recorded or len(result.new) > 1:
        return False
    active, inactive = PollStatus.ACTIVE.value, PollStatus.INACTIVE.value
    adapt = db.ops.adapt_datetimefield_value
    params: list[object] = []
    if result.extended is not None:
        run = result.extended
        params += [adapt(from_micros(run.last)), run.count, run.pk]
    for run in result.new:
        status = active if run.active else inactive
        params += [store_pk, status, adapt(from_micros(run.first)), adapt(from_micros(run.last)), run.count]
    assert result.latest is not None  # it recorded a poll
    params += [adapt(from_micros(result.latest)), active if result.latest_active else inactive, store_pk]
    offset = 0
    for statement, count in _device_statements(db).writes[result.extended is not None, bool(result.new)]:
        cursor.execute(statement, params[offset : offset + count])
        offset += count
    return True


def _run_ends(
    store: Store | LockedDeviceStore, polls: Sequence[PollInput], places: list[int], verdicts: list[Verdict], stale: dt.timedelta
) -> list[dt.datetime]:
    """The instants of the store's recorded active polls in the batch that
    ended a down run: each one after an inactive poll, or after a silence of
    the stale period or more (no signal), counting from the store's latest
    poll before the batch (a store is not monitored, so never down, before
    its first poll). A batch may end several runs. With an open incident
    and no run ended by the status (the Loop import may have ended it, which
    tells nobody), the batch's first active poll ends it."""
    previous_at, previous_status = store.last_poll_at, store.last_status
    ends: list[dt.datetime] = []
    first_active = None
    for place, verdict in zip(places, verdicts):
        if verdict is not Verdict.RECORDED:  # recorded ones come in time order, after the latest
            continue
        poll = polls[place]
        if poll.status == PollStatus.ACTIVE:
            first_active = first_active or poll.at
            if previous_at is not None and (previous_status == PollStatus.INACTIVE or poll.at - previous_at >= stale):
                ends.append(poll.at)
        previous_at, previous_status = poll.at, poll.status
    if not ends and store.incident_open and first_active is not None:
        ends.append(first_active)
    return ends


def polls_record(
    *, polls: Sequence[PollInput], stores: QuerySet[Store] | None, device_store: DeviceStore | Store | None = None
) -> list[PollOutcome]:
    """Apply polls in order and answer one outcome per poll.

    `stores` are the stores the caller may post for; `device_store` is set when
    a device key posts, and then `stores` may be None: a device may post for
    its own store only, whoever owns it. One transaction for the batch, with
    the stores' rows locked (in primary key order, so two batches cannot
    deadlock), so concurrent polls for a store are applied one after the
    other. The span rule (core.spans) decides each poll; the writes are
    batched, so the number of queries does not grow with the number of polls.

    A device's polls without a scope (the API's) take a path of their own
    (_device_polls_record): the same rule and answers in fewer statements,
    and DeviceKeyInvalid when its key is no longer the store's.
    """
    if stores is None and device_store is None:
        raise ValueError("give the stores the caller may post for, or the device's store")
    if stores is None:
        assert device_store is not None  # as checked above
        return _device_polls_record(polls, device_store)
    wanted = {poll.store_id for poll in polls}
    if device_store is not None:
        wanted &= {device_store.store_id}
    outcomes: list[PollOutcome | None] = [None] * len(polls)
    active = PollStatus.ACTIVE.value
    with transaction.atomic():
        locked: Iterable[Store] = ()
        if wanted:
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
        verdicts: dict[int, list[Verdict]] = {}
        store_polls_apply(stores=by_id.values(), polls=encoded, verdicts=verdicts)
        for store_pk, store_places in places.items():
            for place, verdict in zip(store_places, verdicts[store_pk]):
                outcomes[place] = _VERDICT_OUTCOMES[verdict]
        recovered = {
            store.pk: ends
            for store in by_id.values()
            if store.pk in places and (ends := _run_ends(store, polls, places[store.pk], verdicts[store.pk], stale))
        }
        if recovered:
            store_recovered.send(sender=Store, recovered=recovered)
    return outcomes  # type: ignore[return-value]  # every place has its outcome now


def _device_polls_record(polls: Sequence[PollInput], device_store: DeviceStore | Store) -> list[PollOutcome]:
    """polls_record for a device: what the batch path does for one store,
    in two statements for a poll (besides BEGIN and COMMIT) where the batch
    path takes four, and no model instance: the store's row locked and read
    with its latest span in one (_device_store_lock), the span rule
    (core.spans) applied as store_polls_apply applies it, and its changes
    written in one (_store_changes_write; a statement each on SQLite).

    The locked row is checked against `device_store`, as the request's key
    found it (maybe from stores.device_keys' cache): DeviceKeyInvalid when
    its key hash has changed since. Polls for another id than the row's
    (renamed meanwhile: its new id) answer other_store; a store deleted
    since answers unknown_store, as the batch path does.
    """
    outcomes = [OTHER_STORE] * len(polls)
    active = PollStatus.ACTIVE.value
    # The connection itself, not django.db.connection, a proxy that looks it up on every use.
    db = connections[DEFAULT_DB_ALIAS]
    with transaction.atomic(using=DEFAULT_DB_ALIAS), db.cursor() as cursor:
        store = _device_store_lock(db, cursor, device_store.pk)
        # Two stored hashes: compared in constant time all the same.
        if store is not None and not hmac.compare_digest(store.device_key_hash, device_store.device_key_hash):
            raise DeviceKeyInvalid(device_store.pk)
        own_id = device_store.store_id if store is None else store.store_id
        places = [place for place, poll in enumerate(polls) if poll.store_id == own_id]
        if store is None or not places:
            for place in places:
                outcomes[place] = UNKNOWN_STORE
            return outcomes
        stale = stale_after()
        verdicts: list[Verdict] = []
        result = spans_apply(
            polls=[encode_poll(to_micros(polls[place].at), polls[place].status == active) for place in places],
            open_span=store.open_span,
            latest=None if store.last_poll is None else LatestPoll(store.last_poll, store.last_status == active),
            stale_after=stale,
            verdicts=verdicts,
        )
        if result.recorded and not _store_changes_write(db, cursor, store.pk, result):
            _results_write([store.pk], {store.pk: result})
        for place, verdict in zip(places, verdicts):
            outcomes[place] = _VERDICT_OUTCOMES[verdict]
        ends = _run_ends(store, polls, places, verdicts, dt.timedelta(microseconds=stale))
        if ends:
            store_recovered.send(sender=Store, recovered={store.pk: ends})
    return outcomes


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
    active = PollStatus.ACTIVE.value
    stores = [store for store in stores if store.pk in polls]
    open_spans = store_latest_spans(store_pks=[store.pk for store in stores if store.last_poll_at is not None])
    results: dict[int, StorePolls] = {}
    for store in stores:
        span = open_spans.get(store.pk)
        open_span = None if span is None else SpanRun(
            span.status == active, to_micros(span.first_poll_at), to_micros(span.last_poll_at), span.poll_count, span.pk
        )
        store_verdicts = None if verdicts is None else verdicts.setdefault(store.pk, [])
        results[store.pk] = spans_apply(
            polls=polls[store.pk],
            open_span=open_span,
            latest=None if store.last_poll_at is None else LatestPoll(to_micros(store.last_poll_at), store.last_status == active),
            stale_after=stale,
            verdicts=store_verdicts,
        )
    _results_write([store.pk for store in stores], results, copy=copy)
    return results


def _results_write(store_pks: Sequence[int], results: dict[int, StorePolls], *, copy: bool = False) -> None:
    """Write what the stores' polls changed, in a few statements for any
    number of stores: the extended spans, the new spans, the stores' latest polls."""
    active, inactive = PollStatus.ACTIVE.value, PollStatus.INACTIVE.value
    new_spans: list[tuple[int, SpanRun]] = []
    extended: list[StatusSpan] = []
    changed_stores: list[Store] = []
    for store_pk in store_pks:
        result = results[store_pk]
        if not result.recorded:
            continue
        new_spans.extend((store_pk, run) for run in result.new)
        if result.extended is not None:
            run = result.extended
            extended.append(StatusSpan(pk=run.pk, last_poll_at=from_micros(run.last), poll_count=run.count))
        changed_stores.append(
            Store(pk=store_pk, last_poll_at=from_micros(result.latest), last_status=active if result.latest_active else inactive)
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

# Span ids per DELETE when spans_prune reports progress.
PRUNE_BATCH = 50_000


def spans_prune(*, older_than: dt.datetime, progress: Callable[[int, int], None] | None = None) -> int:
    """Delete spans whose last poll is before `older_than`; returns how many.

    Each store's latest span is kept whatever its age: it is what says a
    silent store has been down since, and a new poll may extend it.

    With `progress`, deletes by ranges of PRUNE_BATCH span ids (ranges of
    the primary key's index: together the batches read the table about
    once), one statement each, and calls progress(batches done, batches)
    before the first and after each.
    """
    old = StatusSpan.objects.filter(last_poll_at__lt=older_than).exclude(last_poll_at=F("store__last_poll_at"))
    if progress is None:
        deleted, _ = old.delete()
        return deleted
    # Spans made meanwhile get higher ids, and are too recent to go anyway.
    ids = StatusSpan.objects.aggregate(low=Min("pk"), high=Max("pk"))
    starts = range(ids["low"], ids["high"] + 1, PRUNE_BATCH) if ids["low"] is not None else range(0)
    progress(0, len(starts))
    deleted = 0
    for done, start in enumerate(starts, 1):
        count, _ = old.filter(pk__gte=start, pk__lt=start + PRUNE_BATCH).delete()
        deleted += count
        progress(done, len(starts))
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
