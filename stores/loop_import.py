"""Bulk import of the public Loop files: timezones.csv, menu_hours.csv, store_status.csv.

Polls go through polls_record, the service devices use, in large batches
ordered by store and time: the spans are exactly those that posting the
same polls one by one would give, and a poll not newer than a store's latest
is skipped, so importing a file twice changes nothing.
"""
from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from reports import uptime

from .models import DEFAULT_TIMEZONE, POLL_STATUSES, BusinessHours, PollStatus, Store, known_timezones
from .parsing import clean_store_id, parse_local_time, parse_utc_timestamp
from .services import PollInput, new_device_key, polls_record

# Polls handed to polls_record at once: large enough that its fixed queries
# are amortised, small enough that a batch's spans fit comfortably in memory.
POLL_BATCH = 20_000
# Errors kept for the summary; the rest are only counted.
MAX_ERRORS_KEPT = 50


@dataclass
class ImportSummary:
    name: str
    read: int = 0
    created: int = 0
    updated: int = 0
    recorded: int = 0  # polls
    skipped: int = 0
    refused: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def refuse(self, line: int, reason: str) -> None:
        self.refused += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((line, reason))

    def __str__(self) -> str:
        recorded = f"{self.recorded:,} polls recorded, " if self.name == "status" else ""
        return (
            f"{self.name}: {self.read:,} rows read, {self.created:,} stores created, {self.updated:,} updated, "
            f"{recorded}{self.skipped:,} skipped, {self.refused:,} refused"
        )


Progress = Callable[[int], None]


def csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header; a UTF-8 byte-order mark is dropped."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row


def _stores_by_id(store_ids) -> dict[str, Store]:
    found: dict[str, Store] = {}
    ids = list(store_ids)
    for offset in range(0, len(ids), 5000):
        for store in Store.objects.filter(store_id__in=ids[offset : offset + 5000]):
            found[store.store_id] = store
    return found


def _create_stores(*, owner, zones: dict[str, str]) -> dict[str, Store]:
    """New stores (open all week unless hours follow), each with its own device
    key, which nobody has seen: an owner rotates it in the admin to hand it out."""
    stores = [
        Store(store_id=store_id, owner=owner, timezone=zone, device_key_hash=new_device_key()[1])
        for store_id, zone in zones.items()
    ]
    Store.objects.bulk_create(stores, batch_size=2000)
    return _stores_by_id(zones)


def import_timezones(*, owner, path: Path) -> ImportSummary:
    summary = ImportSummary("timezones")
    zones: dict[str, str] = {}
    for line, row in csv_rows(path):
        summary.read += 1
        try:
            store_id = clean_store_id(row.get("store_id") or "")
        except ValueError as exc:
            summary.refuse(line, f"store id {exc}")
            continue
        zone = (row.get("timezone_str") or "").strip()
        if zone not in known_timezones():
            summary.refuse(line, f"unknown time zone {zone!r}")
            continue
        zones[store_id] = zone
    with transaction.atomic():
        existing = _stores_by_id(zones)
        changed = [store for store in existing.values() if store.timezone != zones[store.store_id]]
        for store in changed:
            store.timezone = zones[store.store_id]
        Store.objects.bulk_update(changed, ["timezone"], batch_size=2000)
        created = _create_stores(owner=owner, zones={k: v for k, v in zones.items() if k not in existing})
    summary.created, summary.updated = len(created), len(changed)
    summary.skipped = len(existing) - len(changed)
    return summary


def import_hours(*, owner, path: Path) -> ImportSummary:
    """Each store in the file gets exactly the file's intervals (its days not
    in the file are open all day, as the Loop data means)."""
    summary = ImportSummary("hours")
    week: dict[str, list[tuple[int, dt.time, dt.time]]] = defaultdict(list)
    for line, row in csv_rows(path):
        summary.read += 1
        try:
            store_id = clean_store_id(row.get("store_id") or "")
            day_text = row.get("day", row.get("dayOfWeek"))
            if day_text is None or not day_text.strip().isdigit() or int(day_text) > 6:
                raise ValueError(f"day must be 0 (Monday) to 6 (Sunday), not {day_text!r}")
            start, start_is_24 = parse_local_time(row.get("start_time_local"))
            end, _ = parse_local_time(row.get("end_time_local"))
            if start_is_24:
                raise ValueError("24:00 can only end an interval")
        except ValueError as exc:
            summary.refuse(line, str(exc))
            continue
        week[store_id].append((int(day_text), start, end))
    with transaction.atomic():
        existing = _stores_by_id(week)
        created = _create_stores(owner=owner, zones={k: DEFAULT_TIMEZONE for k in week if k not in existing})
        stores = {**existing, **created}
        pks = [store.pk for store in stores.values()]
        for offset in range(0, len(pks), 5000):
            BusinessHours.objects.filter(store_id__in=pks[offset : offset + 5000]).delete()
        BusinessHours.objects.bulk_create(
            (
                BusinessHours(store=stores[store_id], day_of_week=day, start_time_local=start, end_time_local=end)
                for store_id, rows in week.items()
                for day, start, end in rows
            ),
            batch_size=5000,
        )
    summary.created, summary.updated = len(created), len(existing)
    return summary


def import_status(*, owner, path: Path, progress: Progress | None = None) -> ImportSummary:
    """Polls of any order: kept per store as compact integers (microseconds
    times two, plus one when active), then applied store by store in time order."""
    summary = ImportSummary("status")
    polls: dict[str, list[int]] = defaultdict(list)
    active, inactive = PollStatus.ACTIVE.value, PollStatus.INACTIVE.value  # plain strings: enum lookups are slow
    for line, row in csv_rows(path):
        summary.read += 1
        if progress is not None and summary.read % 50_000 == 0:
            progress(summary.read)
        status = row.get("status")
        if status not in POLL_STATUSES:
            summary.refuse(line, f"status must be active or inactive, not {status!r}")
            continue
        try:
            store_id = clean_store_id(row.get("store_id") or "")
            at = parse_utc_timestamp(row.get("timestamp_utc") or "")
        except ValueError as exc:
            summary.refuse(line, str(exc))
            continue
        polls[store_id].append(uptime.to_micros(at) * 2 + (status == active))
    if progress is not None:
        progress(summary.read)

    existing = _stores_by_id(polls)
    summary.created = len(_create_stores(owner=owner, zones={k: DEFAULT_TIMEZONE for k in polls if k not in existing}))
    outcomes: Counter[str] = Counter()
    batch: list[PollInput] = []
    every_store = Store.objects.all()
    for store_id in sorted(polls):
        # An exact duplicate line is the same poll: posting it twice would be a repeat.
        for value in sorted(polls.pop(store_id)):
            at = uptime.from_micros(value >> 1)
            batch.append(PollInput(store_id, at, active if value & 1 else inactive))
        if len(batch) >= POLL_BATCH:
            outcomes.update(outcome.code for outcome in polls_record(polls=batch, stores=every_store))
            batch = []
    if batch:
        outcomes.update(outcome.code for outcome in polls_record(polls=batch, stores=every_store))
    summary.recorded = outcomes.pop("recorded", 0)
    # Repeats, older polls and a second status at a poll's instant are all
    # polls not newer than the store's latest.
    summary.skipped = sum(outcomes.values())
    return summary
