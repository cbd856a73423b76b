"""Bulk import of the public Loop files: timezones.csv, menu_hours.csv, store_status.csv.

Polls are ordered per store and applied by the span rule (core.spans)
through the service devices' polls go through (stores.services.
store_polls_apply), with the new spans written by COPY: the spans are
exactly those that posting the same polls one by one would give, and a poll
not newer than a store's latest is skipped, so importing a file twice
changes nothing.
"""
from __future__ import annotations

import csv
import datetime as dt
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from accounts.secrets import new_secret
from core.instants import parse_utc_micros
from core.spans import encode_poll

from .hours import local_time
from .models import DEFAULT_TIMEZONE, POLL_STATUSES, BusinessHours, PollStatus, Store, known_timezones
from .services import LockedStore, store_polls_apply
from .store_ids import clean_store_id

# Polls applied in one transaction (whole stores at a time): large enough that
# the fixed queries are amortised, small enough that the stores stay locked
# for well under a second.
POLL_BATCH = 100_000
# ...and at most this many stores (a file of one poll per store), each a query parameter.
STORE_BATCH = 5000
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


def _create_stores(*, organization, zones: dict[str, str]) -> dict[str, Store]:
    """New stores (open all week unless hours follow), each with its own device
    key, which nobody has seen: a manager rotates it in the admin to hand it out."""
    stores = [
        Store(store_id=store_id, organization=organization, timezone=zone, device_key_hash=new_secret()[1])
        for store_id, zone in zones.items()
    ]
    Store.objects.bulk_create(stores, batch_size=2000)
    return _stores_by_id(zones)


def import_timezones(*, organization, path: Path) -> ImportSummary:
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
        created = _create_stores(organization=organization, zones={k: v for k, v in zones.items() if k not in existing})
    summary.created, summary.updated = len(created), len(changed)
    summary.skipped = len(existing) - len(changed)
    return summary


def import_hours(*, organization, path: Path) -> ImportSummary:
    """Each store in the file gets exactly the file's intervals (its days not
    in the file are open all day, as the Loop data means)."""
    summary = ImportSummary("hours")
    week: dict[str, list[tuple[int, dt.time, dt.time]]] = defaultdict(list)
    for line, row in csv_rows(path):
        summary.read += 1
        try:
            store_id = clean_store_id(row.get("store_id") or "")
        except ValueError as exc:
            summary.refuse(line, f"store id {exc}")
            continue
        try:
            day_text = row.get("day", row.get("dayOfWeek"))
            if day_text is None or not day_text.strip().isdigit() or int(day_text) > 6:
                raise ValueError(f"day must be 0 (Monday) to 6 (Sunday), not {day_text!r}")
            start = local_time(row.get("start_time_local"), is_end=False)
            end = local_time(row.get("end_time_local"), is_end=True)
        except ValueError as exc:
            summary.refuse(line, str(exc))
            continue
        week[store_id].append((int(day_text), start, end))
    with transaction.atomic():
        existing = _stores_by_id(week)
        created = _create_stores(organization=organization, zones={k: DEFAULT_TIMEZONE for k in week if k not in existing})
        stores = {**existing, **created}
        pks = [store.pk for store in stores.values()]
        # A bulk load: no history rows (simple_history's per-row signals would
        # load and record every deleted row one by one), as bulk_create below writes none.
        for offset in range(0, len(pks), 5000):
            rows = BusinessHours.objects.filter(store_id__in=pks[offset : offset + 5000])
            rows._raw_delete(rows.db)
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


def _read_polls(path: Path, summary: ImportSummary, progress: Progress | None) -> dict[str, array]:
    """Each store's polls, encoded as integers (span_compression.encode_poll),
    in file order: 8 bytes a poll, so millions fit in tens of megabytes."""
    polls: dict[str, array] = {}
    active = PollStatus.ACTIVE.value  # a plain string: enum comparisons are slow
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        try:
            id_at, status_at, time_at = (header.index(name) for name in ("store_id", "status", "timestamp_utc"))
        except ValueError:
            summary.refuse(1, "the header must name store_id, status and timestamp_utc")
            return polls
        width = max(id_at, status_at, time_at) + 1
        for row in reader:
            summary.read += 1
            if progress is not None and summary.read % 100_000 == 0:
                progress(summary.read)
            if len(row) < width:
                summary.refuse(reader.line_num, f"expected {len(header)} columns, found {len(row)}")
                continue
            status = row[status_at]
            if status not in POLL_STATUSES:
                summary.refuse(reader.line_num, f"status must be active or inactive, not {status!r}")
                continue
            try:
                store_id = clean_store_id(row[id_at])
            except ValueError as exc:
                summary.refuse(reader.line_num, f"store id {exc}")
                continue
            try:
                at = parse_utc_micros(row[time_at])
            except ValueError as exc:
                summary.refuse(reader.line_num, str(exc))
                continue
            store_polls = polls.get(store_id)
            if store_polls is None:
                store_polls = polls[store_id] = array("q")
            store_polls.append(encode_poll(at, status == active))
    if progress is not None:
        progress(summary.read)
    return polls


def import_status(*, organization, path: Path, progress: Progress | None = None) -> ImportSummary:
    """Polls in any order: read whole, ordered per store, then applied to the
    stores' spans by the rule polls_record applies, store group by store group,
    each in one transaction with the stores' rows locked like polls_record
    locks them, so devices posting meanwhile are applied before or after."""
    summary = ImportSummary("status")
    polls = _read_polls(path, summary, progress)
    existing = _stores_by_id(polls)
    summary.created = len(_create_stores(organization=organization, zones={k: DEFAULT_TIMEZONE for k in polls if k not in existing}))
    group: list[str] = []
    in_group = 0
    for store_id in sorted(polls):
        group.append(store_id)
        in_group += len(polls[store_id])
        if in_group >= POLL_BATCH or len(group) >= STORE_BATCH:
            _apply_polls({store_id: polls.pop(store_id) for store_id in group}, summary)
            group, in_group = [], 0
    if group:
        _apply_polls({store_id: polls.pop(store_id) for store_id in group}, summary)
    return summary


def _apply_polls(polls: dict[str, array], summary: ImportSummary) -> None:
    with transaction.atomic():
        rows = list(
            Store.objects.filter(store_id__in=polls)
            .select_for_update()
            .order_by("pk")
            .values_list("store_id", "pk", "last_poll_at", "last_status")
        )
        results = store_polls_apply(
            stores=[LockedStore(pk, last_poll_at, last_status) for _, pk, last_poll_at, last_status in rows],
            # In time order; an exact duplicate line is the same poll, skipped as a repeat.
            polls={pk: sorted(polls[store_id]) for store_id, pk, _, _ in rows},
            copy=True,
        )
    for result in results.values():
        summary.recorded += result.recorded
        summary.skipped += result.skipped
