"""Writes to stores, business hours and status spans."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet

from .models import DEFAULT_TIMEZONE, ApiToken, BusinessHours, Store, StatusSpan, validate_timezone
from .parsing import clean_store_id
from .row_update import update_rows
from .selectors import store_latest_spans

# Created, with its permissions, by migration 0002_owners_group.
OWNERS_GROUP = "owners"


class StoreIdTaken(Exception):
    """The store id is registered to another account (or, for store_create, to any)."""


class UsernameTaken(Exception):
    """An account with this username exists already."""


class OwnersGroupMissing(Exception):
    """The owners group is not in the database: the migrations have not been applied."""


@dataclass(frozen=True)
class HoursInput:
    """One entry of a schedule: an interval of a weekday, or that weekday closed."""

    day_of_week: int
    start: dt.time | None = None
    end: dt.time | None = None
    closed: bool = False


class StoreCreated(NamedTuple):
    store: Store
    # The plain device key: it is not stored, so this is the only time it exists.
    device_key: str


class RegisterResult(NamedTuple):
    store: Store
    created: bool
    # The plain device key, only when the store was created: it is not stored.
    device_key: str | None


def secret_hash(key: str) -> str:
    """SHA-256 of a random key (a device key or an API token), as stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def secret_matches(key: str, stored_hash: str) -> bool:
    """In constant time: how much of the hash matches does not show in the time taken."""
    return hmac.compare_digest(secret_hash(key), stored_hash)


def new_device_key() -> tuple[str, str]:
    key = secrets.token_urlsafe(32)
    return key, secret_hash(key)


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


def week_problems(*, week: Sequence[HoursInput]) -> list[str]:
    """What is wrong with a whole week of entries, as the API checks it: each
    entry is closed or has both times, and a day is closed or has intervals."""
    problems = []
    for entry in week:
        if not 0 <= entry.day_of_week <= 6:
            problems.append(f"Day {entry.day_of_week} is not 0 (Monday) to 6 (Sunday).")
        elif entry.closed and (entry.start is not None or entry.end is not None):
            problems.append(f"Day {entry.day_of_week}: a closed day has no start or end time.")
        elif not entry.closed and (entry.start is None or entry.end is None):
            problems.append(f"Day {entry.day_of_week}: give a start and an end time, or mark the day closed.")
    closed = {entry.day_of_week for entry in week if entry.closed}
    open_ = {entry.day_of_week for entry in week if not entry.closed}
    problems.extend(f"Day {day} is both closed and open." for day in sorted(closed & open_))
    return problems


def _store_insert(*, owner: AbstractBaseUser, store_id: str, timezone: str | None) -> StoreCreated:
    key, key_hash = new_device_key()
    store = Store.objects.create(
        store_id=store_id, owner=owner, timezone=timezone or DEFAULT_TIMEZONE, device_key_hash=key_hash
    )
    return StoreCreated(store, key)


def store_create(*, owner: AbstractBaseUser, store_id: str, timezone: str | None = None) -> StoreCreated:
    """Create a store with a new device key; StoreIdTaken if the id exists,
    whoever owns it (unlike store_register, this never updates a store);
    InvalidStoreId for an id outside the rule."""
    clean_store_id(store_id)
    validate_timezone(timezone or DEFAULT_TIMEZONE)
    try:
        with transaction.atomic():
            return _store_insert(owner=owner, store_id=store_id, timezone=timezone)
    except IntegrityError:
        # The only other unique column is the hash of a fresh 256-bit key.
        raise StoreIdTaken(store_id) from None


def store_register(
    *,
    owner,
    store_id: str,
    timezone: str | None = None,
    week: Sequence[HoursInput] | None = None,
    day: HoursInput | None = None,
) -> RegisterResult:
    """Create a store or update its timezone and hours.

    `week` replaces the whole schedule (days not in it become open all day);
    `day` replaces one weekday's hours, leaving the others as they are. A store
    belongs to the account that created it; a superuser may update any store.
    InvalidStoreId for an id outside the rule.
    """
    if week is not None and day is not None:
        raise ValueError("give either a week or a day, not both")
    clean_store_id(store_id)
    try:
        return _store_register(owner=owner, store_id=store_id, timezone=timezone, week=week, day=day)
    except IntegrityError:
        # Two requests registered the same new id at once and this one lost
        # the insert: the store exists now, so registering again updates it.
        return _store_register(owner=owner, store_id=store_id, timezone=timezone, week=week, day=day)


def _store_register(
    *, owner, store_id: str, timezone: str | None, week: Sequence[HoursInput] | None, day: HoursInput | None
) -> RegisterResult:
    with transaction.atomic():
        store = Store.objects.select_for_update().filter(store_id=store_id).first()
        device_key = None
        created = store is None
        if created:
            store, device_key = _store_insert(owner=owner, store_id=store_id, timezone=timezone)
        else:
            if store.owner_id != owner.pk and not owner.is_superuser:
                raise StoreIdTaken(store_id)
            if timezone and timezone != store.timezone:
                store.timezone = timezone
            store.save()
        if week is not None:
            store.business_hours.all().delete()
            BusinessHours.objects.bulk_create(_hours_rows(store, week))
        elif day is not None:
            store.business_hours.filter(day_of_week=day.day_of_week).delete()
            BusinessHours.objects.bulk_create(_hours_rows(store, [day]))
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
    key, key_hash = new_device_key()
    Store.objects.filter(pk=store.pk).update(device_key_hash=key_hash)
    store.device_key_hash = key_hash
    return key


# --------------------------------------------------------------------------
# Owners: staff accounts in the owners group, which see only their own stores
# in the admin and use the API with a token.
# --------------------------------------------------------------------------


def _owners_group() -> Group:
    try:
        return Group.objects.get(name=OWNERS_GROUP)
    except Group.DoesNotExist:
        raise OwnersGroupMissing(
            f"There is no {OWNERS_GROUP!r} group; apply the migrations (manage.py migrate)."
        ) from None


def owner_grant(*, user: AbstractBaseUser) -> str | None:
    """Make an account an owner: staff (to log into the admin), in the owners
    group, with an API token. Returns the new token's key, or None when the
    account has a token already: it keeps it (only its hash is stored, so it
    cannot be shown), and its API clients go on working."""
    group = _owners_group()
    with transaction.atomic():
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
        if ApiToken.objects.filter(user=user).exists():
            return None
        return api_token_create(user=user)


def owner_create(*, username: str, password: str, email: str = "") -> tuple[AbstractBaseUser, str]:
    """A new owner account (staff, not a superuser, in the owners group) and its API token key.

    Raises UsernameTaken, OwnersGroupMissing, or Django's ValidationError for a
    username or password the validators refuse.
    """
    user_model = get_user_model()
    username = user_model.normalize_username(username)
    username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    # create_user() runs no validators: run the ones the admin's forms would.
    username_field.clean(username, None)
    group = _owners_group()
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise UsernameTaken(username)
    password_validation.validate_password(
        password, user=user_model(**{user_model.USERNAME_FIELD: username}, email=email)
    )
    try:
        with transaction.atomic():
            user = user_model._default_manager.create_user(
                **{user_model.USERNAME_FIELD: username}, email=email, password=password, is_staff=True
            )
            user.groups.add(group)
            key = api_token_create(user=user)
    except IntegrityError:
        # Another process created the same username since the check above.
        raise UsernameTaken(username) from None
    return user, key


# --------------------------------------------------------------------------
# API tokens: stored as hashes; the plain key exists only in the answer of
# the call that makes it.
# --------------------------------------------------------------------------

# Characters of the key kept in clear, to tell tokens apart in the admin.
API_TOKEN_PREFIX_LENGTH = 8


def new_api_token_key() -> str:
    return secrets.token_urlsafe(32)


def api_token_create(*, user: AbstractBaseUser) -> str:
    """A new token for the user, beside any they have; returns its key (not stored)."""
    key = new_api_token_key()
    ApiToken.objects.create(user=user, prefix=key[:API_TOKEN_PREFIX_LENGTH], key_hash=secret_hash(key))
    return key


def api_token_rotate(*, user: AbstractBaseUser) -> str:
    """Replace all the user's tokens with a new one; the old ones stop working
    at once. Returns the new key (not stored)."""
    with transaction.atomic():
        ApiToken.objects.filter(user=user).delete()
        return api_token_create(user=user)


def api_token_replace(*, token: ApiToken) -> str:
    """Replace one token with a new one for the same user (the user's other
    tokens are left alone). Returns the new key (not stored)."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).delete()
        return api_token_create(user=token.user)


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


def stale_after() -> dt.timedelta:
    return dt.timedelta(minutes=settings.MONITOR_STALE_AFTER_MINUTES)


# The store fields polls_record reads and writes.
_LOCKED_FIELDS = ("store_id", "last_poll_at", "last_status")


def _locked_store(store_id: str) -> list[Store]:
    """The store with this id ([] if none), its row locked until the
    transaction ends, with _LOCKED_FIELDS (the others deferred).

    Written in SQL: a device's poll runs this, and building and compiling
    the ORM's statement (polls_record's for a scope of stores) cost it
    0.3 ms of CPU, a tenth of the poll's time in the web server.
    """
    quote = connection.ops.quote_name
    meta = Store._meta
    columns = ", ".join(quote(field.column) for field in [meta.pk, *map(meta.get_field, _LOCKED_FIELDS)])
    statement = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('store_id').column)} = %s"
    if connection.features.has_select_for_update:  # as select_for_update(), which SQLite ignores
        statement += " FOR UPDATE"
    return list(Store.objects.raw(statement, [store_id]))


def polls_record(
    *, polls: Sequence[PollInput], stores: QuerySet[Store] | None, device_store: Store | None = None
) -> list[PollOutcome]:
    """Apply polls in order and answer one outcome per poll.

    `stores` are the stores the caller may post for; `device_store` is set when
    a device key posts, and then `stores` may be None: a device may post for
    its own store only, whoever owns it. One transaction for the batch, with
    the stores' rows locked (in primary key order, so two batches cannot
    deadlock), so concurrent polls for a store are applied one after the
    other. Each poll extends the store's open span or opens a new one; the
    writes are batched, so the number of queries does not grow with the
    number of polls.
    """
    if stores is None and device_store is None:
        raise ValueError("give the stores the caller may post for, or the device's store")
    stale = stale_after()
    wanted = {poll.store_id for poll in polls}
    if device_store is not None:
        wanted &= {device_store.store_id}
    outcomes: list[PollOutcome] = []
    with transaction.atomic():
        locked: Iterable[Store] = ()
        if wanted and stores is None:
            assert device_store is not None  # as checked above; wanted is {its store_id}
            locked = _locked_store(device_store.store_id)
        elif wanted and stores is not None:
            # Only the fields polls are checked against and written to: less to read and build.
            locked = stores.filter(store_id__in=wanted).select_for_update().order_by("pk").only(*_LOCKED_FIELDS)
        by_id = {store.store_id: store for store in locked}
        open_spans = store_latest_spans(store_pks=[store.pk for store in by_id.values() if store.last_poll_at is not None])
        new_spans: list[StatusSpan] = []
        changed_spans: dict[int, StatusSpan] = {}
        changed_stores: dict[int, Store] = {}

        for poll in polls:
            if device_store is not None and poll.store_id != device_store.store_id:
                outcomes.append(OTHER_STORE)
                continue
            store = by_id.get(poll.store_id)
            if store is None:
                outcomes.append(UNKNOWN_STORE)
                continue
            if store.last_poll_at is not None:
                if poll.at < store.last_poll_at:
                    outcomes.append(OLDER_THAN_LATEST)
                    continue
                if poll.at == store.last_poll_at:
                    outcomes.append(REPEAT if poll.status == store.last_status else CONFLICTING_STATUS)
                    continue
            span = open_spans.get(store.pk)
            if span is not None and span.status == poll.status and poll.at - span.last_poll_at < stale:
                span.last_poll_at = poll.at
                span.poll_count += 1
                if span.pk is not None:
                    changed_spans[span.pk] = span
            else:
                span = StatusSpan(
                    store=store, status=poll.status, first_poll_at=poll.at, last_poll_at=poll.at, poll_count=1
                )
                new_spans.append(span)
                open_spans[store.pk] = span
            store.last_poll_at = poll.at
            store.last_status = poll.status
            changed_stores[store.pk] = store
            outcomes.append(RECORDED)

        if changed_spans:
            update_rows(StatusSpan, list(changed_spans.values()), ["last_poll_at", "poll_count"])
        if new_spans:
            StatusSpan.objects.bulk_create(new_spans, batch_size=1000)
        if changed_stores:
            update_rows(Store, list(changed_stores.values()), ["last_poll_at", "last_status"])
    return outcomes


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
