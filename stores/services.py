"""Writes to stores, business hours and status spans."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery

from .models import DEFAULT_TIMEZONE, BusinessHours, Store, StatusSpan


class StoreIdTaken(Exception):
    """The store id is registered to another account."""


@dataclass(frozen=True)
class HoursInput:
    """One entry of a schedule: an interval of a weekday, or that weekday closed."""

    day_of_week: int
    start: dt.time | None = None
    end: dt.time | None = None
    closed: bool = False


class RegisterResult(NamedTuple):
    store: Store
    created: bool
    # The plain device key, only when the store was created: it is not stored.
    device_key: str | None


def device_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def device_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(device_key_hash(key), stored_hash)


def _new_device_key() -> tuple[str, str]:
    key = secrets.token_urlsafe(32)
    return key, device_key_hash(key)


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
    """
    if week is not None and day is not None:
        raise ValueError("give either a week or a day, not both")
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
            device_key, key_hash = _new_device_key()
            store = Store.objects.create(
                store_id=store_id,
                owner=owner,
                timezone=timezone or DEFAULT_TIMEZONE,
                device_key_hash=key_hash,
            )
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


def store_rotate_device_key(*, store: Store) -> str:
    """Give the store a new device key; the old one stops working at once."""
    key, key_hash = _new_device_key()
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


def stale_after() -> dt.timedelta:
    return dt.timedelta(minutes=settings.MONITOR_STALE_AFTER_MINUTES)


def polls_record(
    *, polls: Sequence[PollInput], stores: QuerySet[Store], device_store: Store | None = None
) -> list[PollOutcome]:
    """Apply polls in order and answer one outcome per poll.

    `stores` are the stores the caller may post for; `device_store` is set when
    a device key posts. One transaction for the batch, with the stores' rows
    locked (in primary key order, so two batches cannot deadlock), so
    concurrent polls for a store are applied one after the other. Each poll
    extends the store's open span or opens a new one; the writes are batched,
    so the number of queries does not grow with the number of polls.
    """
    stale = stale_after()
    wanted = {poll.store_id for poll in polls}
    if device_store is not None:
        wanted &= {device_store.store_id}
    outcomes: list[PollOutcome] = []
    with transaction.atomic():
        by_id: dict[str, Store] = {}
        if wanted:
            by_id = {
                store.store_id: store
                for store in stores.filter(store_id__in=wanted).select_for_update().order_by("pk")
            }
        latest_span = (
            StatusSpan.objects.filter(store=OuterRef("pk")).order_by("-first_poll_at").values("pk")[:1]
        )
        open_span_ids = (
            Store.objects.filter(pk__in=[s.pk for s in by_id.values() if s.last_poll_at is not None])
            .annotate(span_id=Subquery(latest_span))
            .values("span_id")
        )
        open_spans: dict[int, StatusSpan] = {
            span.store_id: span for span in StatusSpan.objects.filter(pk__in=Subquery(open_span_ids))
        }
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
            StatusSpan.objects.bulk_update(changed_spans.values(), ["last_poll_at", "poll_count"], batch_size=1000)
        if new_spans:
            StatusSpan.objects.bulk_create(new_spans, batch_size=1000)
        if changed_stores:
            Store.objects.bulk_update(changed_stores.values(), ["last_poll_at", "last_status"], batch_size=1000)
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
