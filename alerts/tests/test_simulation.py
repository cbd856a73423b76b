"""A simulated week of the monitor against a brute-force reading of the rules
(docs/semantics.md, sections 2, 3, 7 and 8).

200 stores of one organization, with one email channel (its notifications
stay pending: in a test's transaction nothing is queued on commit). Their
schedules are 200 stores of the public Loop 2023 files when those sit beside
the project (MONITOR_LOOP_DATA, else ../shared/data; read in place, never
copied), else 200 Loop-shaped schedules made here from a seed; the test id
(and a log line) names the source. The simulated week holds a DST change:
the US one for the Loop stores, the EU and Sydney ones for the generated.
Each device polls about hourly with jitter (stores.poll_generator), with
outages, silences of several hours (no signal), and quick re-polls a few
minutes after an inactive poll (blips under the grace period, and incidents
that open and end between two passes); two closures fall in the middle of
outages.

The product runs as it would: simulated time advances in steps of an hour
(production passes every 30 s; the incidents compared do not depend on it,
the runtime does); at each step, with time frozen there, the polls of
(previous step, step] are recorded through polls_record, then a monitor
pass (alerts_evaluate) runs. A step's polls go in rounds, each round holding
at most one poll per store, in time order: a store's polls are applied one
by one, as its device posts them, so each active poll ending a down run
makes its own request resolve (or record) the incident. (When this test
was written, one polls_record call holding several polls of a store missed
an incident whose run ended inside the batch when it was not the batch's
last poll or began inside it; reported, and kept out of this test by the
rounds.) Recording a poll at the step rather than at its own instant
changes nothing the test compares: no pass runs in between, and the
request's rule reads the polls, not the clock.

The start of the week. Polls start a day before the first pass (the monitor
is started late: the first pass must open what is already open, and the
requests must have recorded what opened and ended before it). Nothing is
cut off at the start: before a store's first poll it is not monitored, by
the product and by the brute force alike; every pass and every request
looks a week back, which reaches the first poll for all but those of the
last day, and no down run lasts a day (asserted), so each of those still
sees whole every run it can see. So every incident is compared, from the
first poll to the last pass. No poll is generated at or after the last
pass, so what is still down then is open in both.

The brute force (written here, from the docs; nothing of core.incidents or
core.uptime) reads each store second by second: business hours as a table
of one byte per second, built from the schedule's local wall times
(zoneinfo, fold=0), closures cleared out of it; the status at a second from
the latest poll at or before it. Every poll instant, hour boundary and
closure bound is a whole second, so one-second resolution is exact.
"""
from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import logging
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
import time_machine

from alerts.models import ChannelKind, Flapping, Incident, Notification, NotificationEvent
from alerts.notifications import channel_create
from alerts.services import alerts_evaluate
from core.closures import closure_period
from stores.hours import HoursInput
from stores.models import Store
from stores.poll_generator import PollPattern, generate_polls, store_rng
from stores.services import RECORDED, PollInput, closure_create, polls_record, store_register
from stores.tests.factories import organization_of

logger = logging.getLogger(__name__)
pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
SEED = 20240310
STORE_COUNT = 200
# Simulated seconds between two monitor passes (and poll recordings).
STEP = 60 * 60
# The rule's settings, pinned for the product (fixture below) and used by the brute force.
STALE = 120 * 60
GRACE = 10 * 60
FLAP_LIMIT = 4
REMIND_MINUTES = 60
# docs/semantics.md, section 1: a store registered without a timezone.
DEFAULT_ZONE = "America/Chicago"
INACTIVE, NO_SIGNAL = "inactive", "no_signal"
MICROS = 1_000_000
# Hourly polls, ±5 minutes, with missed polls (the gap a missed poll leaves
# is about two hours: no signal from two hours after the last poll, if it is
# longer) and outages of one to five polls.
PATTERN = PollPattern(interval_minutes=60, jitter_minutes=5, missed_rate=0.03, outage_rate=0.012, outage_polls=(1, 5))

Poll = tuple[int, bool]  # (seconds since the epoch, active)
Interval = tuple[int, int]  # [start, end) in seconds since the epoch

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# Schedules: the Loop files beside the project, or generated like them
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSpec:
    store_id: str
    zone: str | None  # None: none given, registered without one (the default applies)
    rows: tuple[HoursInput, ...]  # as registered; none at all: open 24/7


class Source(NamedTuple):
    name: str
    folder: Path | None
    # The first monitor pass; the passes go on for a week, the polls start a day before.
    first_pass: dt.datetime
    # Around the week's clock changes: some devices are silent then.
    dst_nights: tuple[tuple[dt.datetime, dt.datetime], ...]


def loop_folder() -> Path | None:
    """The loop-2023 files: MONITOR_LOOP_DATA (the data folder holding
    loop-2023/, or loop-2023/ itself), else ../shared/data beside the repo."""
    given = os.environ.get("MONITOR_LOOP_DATA")
    root = Path(given) if given else REPO.parent / "shared" / "data"
    for folder in (root / "loop-2023", root):
        if (folder / "menu_hours.csv").is_file() and (folder / "timezones.csv").is_file():
            return folder
    return None


def schedule_source() -> Source:
    folder = loop_folder()
    if folder is not None:
        # Loop stores are American: the week of the US change (Sunday 10 March 2024, 02:00 local: 07:00-10:00 UTC).
        us_night = (dt.datetime(2024, 3, 10, 3, tzinfo=UTC), dt.datetime(2024, 3, 10, 16, tzinfo=UTC))
        return Source("loop-2023", folder, dt.datetime(2024, 3, 6, tzinfo=UTC), (us_night,))
    # The EU change (Sunday 31 March, 01:00 UTC) and Sydney's (Sunday 7 April, 03:00 AEDT = 6 April 16:00 UTC).
    eu_night = (dt.datetime(2024, 3, 30, 20, tzinfo=UTC), dt.datetime(2024, 3, 31, 9, tzinfo=UTC))
    sydney_night = (dt.datetime(2024, 4, 6, 10, tzinfo=UTC), dt.datetime(2024, 4, 7, tzinfo=UTC))
    return Source("generated", None, dt.datetime(2024, 3, 31, tzinfo=UTC), (eu_night, sydney_night))


def read_clock(text: str) -> dt.time:
    """A Loop time, HH:MM:SS; 24:00 (the midnight ending the day) is kept as 00:00, as the product keeps it."""
    return dt.time(0) if text.strip().startswith("24:00") else dt.time.fromisoformat(text.strip())


def loop_stores(folder: Path, count: int, rng: random.Random) -> list[StoreSpec]:
    """A seeded sample of the Loop stores. A plain sample of 200 out of
    13,584 would hold few stores missing from menu_hours (open 24/7) and
    likely none missing from timezones (the default zone), so some of each
    are taken on purpose, the rest from the stores in both files."""
    zones: dict[str, str] = {}
    with open(folder / "timezones.csv", newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            zones[row["store_id"]] = row["timezone_str"]
    rows: dict[str, list[HoursInput]] = defaultdict(list)
    with open(folder / "menu_hours.csv", newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            day = int(row.get("day") or row["dayOfWeek"])  # loop-2023 says day, loop-2024 dayOfWeek
            rows[row["store_id"]].append(HoursInput(day, read_clock(row["start_time_local"]), read_clock(row["end_time_local"])))
    no_zone = sorted(set(rows) - set(zones))
    no_hours = sorted(set(zones) - set(rows))
    both = sorted(set(zones) & set(rows))
    picked = rng.sample(no_zone, min(5, len(no_zone))) + rng.sample(no_hours, min(20, len(no_hours)))
    picked += rng.sample(both, count - len(picked))
    return [StoreSpec(store_id, zones.get(store_id), tuple(rows.get(store_id, ()))) for store_id in picked]


# Zones with and without DST, north and south, whole-hour and half-hour offsets.
GENERATED_ZONES = (
    "America/Chicago",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "America/Phoenix",
    "Asia/Tokyo",
)


def random_clock(rng: random.Random, low_hour: int, high_hour: int) -> dt.time:
    """A time of day, some with seconds (04:59:59 and the like)."""
    second = rng.choice((0, 0, 0, 59, rng.randrange(60)))
    return dt.time(rng.randrange(low_hour, high_hour + 1), rng.choice((0, 15, 30, 45, 59)), second)


def generated_day(rng: random.Random) -> list[tuple[dt.time, dt.time]]:
    """One day's ranges, in the shapes the Loop data and restaurants have."""
    shape = rng.random()
    if shape < 0.3:  # lunch and dinner
        return [(random_clock(rng, 10, 11), random_clock(rng, 13, 15)), (random_clock(rng, 16, 18), random_clock(rng, 21, 23))]
    if shape < 0.45:  # overnight: ends the next day
        return [(random_clock(rng, 17, 22), random_clock(rng, 0, 4))]
    if shape < 0.55:  # to the midnight ending the day, written as the Loop files do, or as 24:00
        return [(random_clock(rng, 6, 12), rng.choice((dt.time(23, 59, 59), dt.time(0))))]
    if shape < 0.6:  # start equals end: open 24 hours from the start
        start = random_clock(rng, 0, 23)
        return [(start, start)]
    if shape < 0.7:  # three ranges, some overlapping
        return [
            (random_clock(rng, 5, 8), random_clock(rng, 9, 11)),
            (random_clock(rng, 10, 13), random_clock(rng, 14, 16)),
            (random_clock(rng, 17, 19), random_clock(rng, 20, 23)),
        ]
    return [(random_clock(rng, 5, 11), random_clock(rng, 14, 23))]


# Weekend hours across the generated week's clock changes (section 2): a
# start or an end in the spring-forward gap (moved forward by it), a range
# wholly inside it, ranges in Sydney's fall-back hour (first occurrence).
DST_EDGES: tuple[tuple[str, tuple[tuple[int, str, str], ...]], ...] = (
    ("Europe/London", ((5, "22:00", "01:30"), (6, "01:30", "03:00"), (6, "10:00", "18:00"))),
    ("Europe/Berlin", ((6, "02:15", "02:45"), (6, "03:30", "12:00"))),
    ("Australia/Sydney", ((5, "21:00", "02:30"), (6, "02:00", "02:30"), (6, "08:00", "17:00"))),
    ("Australia/Sydney", ((5, "08:00", "08:00"), (6, "01:30", "03:00:30"))),
)


def generated_stores(count: int, rng: random.Random) -> list[StoreSpec]:
    """Seeded Loop-shaped schedules; the last few have DST_EDGES' weekends."""
    stores = []
    for n in range(count):
        zone = GENERATED_ZONES[n % len(GENERATED_ZONES)] if n % 25 else None  # every 25th: no zone given
        rows: list[HoursInput] = []
        if rng.random() >= 0.08:  # else: no hours at all, open 24/7
            for day in range(7):
                kind = rng.random()
                if kind < 0.08:
                    continue  # no rows that day: open all day
                if kind < 0.16:
                    rows.append(HoursInput(day, closed=True))
                    continue
                rows.extend(HoursInput(day, start, end) for start, end in generated_day(rng))
        stores.append(StoreSpec(f"sim-{n:03d}", zone, tuple(rows)))
    for place, (zone, weekend) in zip(range(count - len(DST_EDGES), count), DST_EDGES):
        weekdays = [row for row in stores[place].rows if row.day_of_week < 5]
        edges = [HoursInput(day, dt.time.fromisoformat(start), dt.time.fromisoformat(end)) for day, start, end in weekend]
        stores[place] = StoreSpec(stores[place].store_id, zone, tuple(weekdays + edges))
    return stores


def schedules(source: Source) -> list[StoreSpec]:
    rng = random.Random(f"{SEED}/schedules")
    if source.folder is not None:
        return loop_stores(source.folder, STORE_COUNT, rng)
    return generated_stores(STORE_COUNT, rng)


# --------------------------------------------------------------------------
# Polls
# --------------------------------------------------------------------------


def device_polls(store_id: str, first: int, end: int, quiet: Sequence[Interval] = ()) -> list[Poll]:
    """A device's polls in [first, end), at whole seconds: stores.poll_generator's
    hourly polls with outages, then (a seeded generator of this test's own)
    a silence of several hours for some devices, a quick re-poll after some
    inactive polls, and short inactive blips between some hourly polls;
    none inside `quiet`."""
    slots = (end - first) // 3600 + 1
    polls = {at // MICROS: active for at, active in generate_polls(store_rng(SEED, store_id), first * MICROS, slots, PATTERN)}
    rng = random.Random(f"{SEED}/extra/{store_id}")
    if rng.random() < 0.5:  # long enough, at times, to last from before closing to after opening
        quiet_from = rng.randrange(first, end)
        quiet_until = quiet_from + rng.randrange(3 * 3600, 16 * 3600)
        polls = {at: active for at, active in polls.items() if not quiet_from <= at < quiet_until}
    ordered = sorted(polls.items())
    extra: dict[int, bool] = {}
    for (at, active), (following, _) in zip(ordered, ordered[1:]):
        if not active and rng.random() < 0.4:
            # Back (or still down) 1 to 25 minutes later: a blip under the
            # grace period, or an incident that opens and ends between two passes.
            again = at + rng.randrange(60, 1500)
            if again < following:
                extra[again] = rng.random() < 0.75
        elif active and rng.random() < 0.03:
            down = at + rng.randrange(60, 900)
            up = down + rng.randrange(30, 1200)
            if up < following:
                extra[down], extra[up] = False, True
    polls.update(extra)
    return sorted(
        (at, active) for at, active in polls.items() if first <= at < end and not any(start <= at < stop for start, stop in quiet)
    )


# --------------------------------------------------------------------------
# The brute force (docs/semantics.md; nothing from core)
# --------------------------------------------------------------------------


MIDNIGHT = dt.time(0)
END_OF_DAY = dt.time(23, 59, 59)


def local_instant(zone: ZoneInfo, day: dt.date, clock: dt.time) -> int:
    """A local wall time on a date as an instant, with fold=0 (section 2): a
    time in the spring-forward gap moves forward by the gap, an ambiguous
    one is its first occurrence."""
    return int(dt.datetime.combine(day, clock).replace(tzinfo=zone).timestamp())


def day_ranges(spec: StoreSpec, zone: ZoneInfo, day: dt.date) -> list[Interval]:
    """The UTC ranges of one local date's own hours (section 2's table, in its order)."""
    rows = [row for row in spec.rows if row.day_of_week == day.weekday()]
    if not rows:
        written = [(MIDNIGHT, MIDNIGHT)]  # no interval for the day: open all 24 hours
    else:
        written = [(row.start, row.end) for row in rows if not row.closed]  # closed: none of its own
    following = day + dt.timedelta(days=1)
    ranges = []
    for start, end in written:
        assert start is not None and end is not None
        if start == end:  # open 24 hours from the start
            finish = local_instant(zone, following, end)
        elif end == END_OF_DAY:  # the midnight that ends the day
            finish = local_instant(zone, following, MIDNIGHT)
        elif end < start:  # overnight (and 24:00, kept as 00:00)
            finish = local_instant(zone, following, end)
        else:
            finish = local_instant(zone, day, end)
        ranges.append((local_instant(zone, day, start), finish))  # empty when begin >= finish (wholly in the gap)
    return ranges


def second_table(base: int, limit: int, on: Iterable[Interval], off: Iterable[Interval] = ()) -> bytearray:
    """One byte per second of [base, limit): 1 inside `on` and outside `off`."""
    table = bytearray(limit - base)
    for ranges, value in ((on, 1), (off, 0)):
        for start, end in ranges:
            start, end = max(start, base), min(end, limit)
            if start < end:
                table[start - base : end - base] = bytes([value]) * (end - start)
    return table


def business_ranges(spec: StoreSpec, base: int, limit: int) -> list[Interval]:
    zone = ZoneInfo(spec.zone or DEFAULT_ZONE)
    first = dt.datetime.fromtimestamp(base, zone).date() - dt.timedelta(days=2)
    last = dt.datetime.fromtimestamp(limit, zone).date() + dt.timedelta(days=1)
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [piece for day in days for piece in day_ranges(spec, zone, day)]


class Expected(NamedTuple):
    """An incident as the Incident row has it."""

    store_id: str
    started_at: dt.datetime
    opened_at: dt.datetime
    reason: str
    resolved_at: dt.datetime | None
    business_downtime_seconds: int


@dataclass
class Run:
    """A down run being scanned."""

    start: int
    trouble: int = 0  # seconds so far
    first_trouble: int | None = None
    last_trouble: int | None = None
    opened: int | None = None
    reason: str | None = None


@dataclass
class Scan:
    incidents: list[Expected] = field(default_factory=list)
    spans_closing: set[tuple[str, dt.datetime]] = field(default_factory=set)
    did_not_open: int = 0  # trouble began at opening time, the store already down
    blips: int = 0  # runs ended by a poll with some trouble, not more than the grace period
    down_seconds: int = 0
    longest_run: int = 0


def moment(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)


def scan_store(store_id: str, polls: Sequence[Poll], hours: bytearray, open_: bytearray, base: int, end: int, scan: Scan) -> None:
    """The store's incidents over [its first poll, end), second by second.

    `hours` has a byte per second, 1 inside business hours; `open_` the same
    with closures cleared. The status only changes at a poll or when the
    latest poll turns stale, so between two such instants the seconds are
    read in bulk (bytearray.count/find/rfind visit each one, in C) and the
    opening is found by walking them one by one."""
    if not polls:
        return
    latest, count = 0, len(polls)
    run: Run | None = None
    t = polls[0][0]  # before the first poll: not monitored

    def run_ends(resolved_at: int | None, at: int) -> None:
        assert run is not None
        scan.down_seconds += at - run.start
        scan.longest_run = max(scan.longest_run, at - run.start)
        if run.opened is None:
            scan.blips += bool(run.trouble) and resolved_at is not None
            return
        assert run.first_trouble is not None and run.last_trouble is not None and run.reason is not None
        incident = Expected(
            store_id, moment(run.first_trouble), moment(run.opened), run.reason,
            None if resolved_at is None else moment(resolved_at), run.trouble,
        )
        scan.incidents.append(incident)
        if hours.find(0, run.first_trouble - base, run.last_trouble - base) != -1:
            scan.spans_closing.add((store_id, incident.started_at))  # trouble on both sides of a closing time
        if run.first_trouble > run.start and not hours[run.first_trouble - 1 - base]:
            scan.did_not_open += 1  # down before opening time

    while t < end:
        while latest + 1 < count and polls[latest + 1][0] <= t:
            latest += 1
        at, active = polls[latest]
        following = polls[latest + 1][0] if latest + 1 < count else end
        stale = t - at >= STALE
        if active and not stale:  # up
            if run is not None:
                assert t == at, "only an active poll ends a down run"
                run_ends(t, t)
                run = None
            # Nothing can be in trouble while up: on to the next poll, or to when this one turns stale.
            t = min(following, at + STALE, end)
            continue
        # Down, the same way (inactive, or no signal) until the next poll or until this one turns stale.
        until = min(following, end) if stale else min(following, at + STALE, end)
        if run is None:
            run = Run(t)
        first, last = t - base, until - base
        trouble = open_.count(1, first, last)
        if trouble:
            if run.first_trouble is None:
                run.first_trouble = open_.find(1, first, last) + base
            if run.trouble <= GRACE < run.trouble + trouble:
                # It opens at the first second in trouble after the grace period of trouble.
                second, before = first, run.trouble
                while not open_[second] or before < GRACE:
                    before += open_[second]
                    second += 1
                run.opened, run.reason = second + base, NO_SIGNAL if stale else INACTIVE
            run.trouble += trouble
            run.last_trouble = open_.rfind(1, first, last) + base
        t = until
    if run is not None:
        run_ends(None, end)


# --------------------------------------------------------------------------
# Closures: placed in the middle of two outages the brute force found
# --------------------------------------------------------------------------


class PlannedClosure(NamedTuple):
    store_id: str
    start: str  # as given to closure_period: an instant (Z) or a local time
    end: str
    utc: Interval  # the brute force's own reading of it


def plan_closures(found: Sequence[Expected], specs: dict[str, StoreSpec], tables: dict[str, bytearray], base: int) -> list[PlannedClosure]:
    """Two closures: one given as instants, 20 to 50 minutes into an incident
    (after it opened: its business downtime loses 30 minutes); one in the
    store's local time from 15 minutes before an incident's trouble to 5
    minutes after (its start moves). Each in a stretch of 70 minutes in
    business hours, and of one run."""

    def room(incident: Expected) -> bool:
        start = int(incident.started_at.timestamp())
        ends = start + 70 * 60
        inside = tables[incident.store_id][start - base : ends - base].count(1) == ends - start
        return inside and (incident.resolved_at is None or incident.resolved_at.timestamp() > ends)

    candidates = [incident for incident in found if room(incident)]
    instant_one = candidates[0]
    start = int(instant_one.started_at.timestamp())
    planned = [
        PlannedClosure(
            instant_one.store_id,
            f"{moment(start + 20 * 60):%Y-%m-%dT%H:%M:%SZ}",
            f"{moment(start + 50 * 60):%Y-%m-%dT%H:%M:%SZ}",
            (start + 20 * 60, start + 50 * 60),
        )
    ]
    for incident in candidates[1:]:
        if incident.store_id == instant_one.store_id:
            continue
        zone = ZoneInfo(specs[incident.store_id].zone or DEFAULT_ZONE)
        start = int(incident.started_at.timestamp())
        begin, finish = (dt.datetime.fromtimestamp(x, zone).replace(tzinfo=None) for x in (start - 15 * 60, start + 5 * 60))
        utc = (local_instant(zone, begin.date(), begin.time()), local_instant(zone, finish.date(), finish.time()))
        if utc != (start - 15 * 60, start + 5 * 60):
            continue  # near a clock change: the local text would not say it
        planned.append(PlannedClosure(incident.store_id, f"{begin:%Y-%m-%dT%H:%M:%S}", f"{finish:%Y-%m-%dT%H:%M:%S}", utc))
        break
    assert len(planned) == 2
    return planned


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


SOURCE = schedule_source()


@pytest.fixture
def rule_settings(settings) -> None:
    settings.MONITOR_STALE_AFTER_MINUTES = STALE // 60
    settings.MONITOR_ALERT_GRACE_MINUTES = GRACE // 60
    settings.MONITOR_ALERT_FLAP_LIMIT = FLAP_LIMIT
    settings.MONITOR_ALERT_REMIND_MINUTES = REMIND_MINUTES


def brute_force(
    specs: Sequence[StoreSpec],
    polls: dict[str, list[Poll]],
    closures: Sequence[PlannedClosure],
    base: int,
    end: int,
    passes: Sequence[int],
    *,
    keep_tables: bool = False,
) -> tuple[Scan, dict[str, bytearray], dict[str, set[int]]]:
    """The scan of every store; also the passes inside each store's open
    hours, and if asked each store's table of open seconds (0.7 MB each)."""
    scan = Scan()
    tables: dict[str, bytearray] = {}
    open_passes: dict[str, set[int]] = {}
    closed: dict[str, list[Interval]] = defaultdict(list)
    for closure in closures:
        closed[closure.store_id].append(closure.utc)
    for spec in specs:
        business = business_ranges(spec, base, end + 1)
        hours = second_table(base, end + 1, business)
        open_ = second_table(base, end + 1, business, closed[spec.store_id]) if closed[spec.store_id] else hours
        scan_store(spec.store_id, polls[spec.store_id], hours, open_, base, end, scan)
        if keep_tables:
            tables[spec.store_id] = open_
        open_passes[spec.store_id] = {at for at in passes if open_[at - base]}
    return scan, tables, open_passes


def record_rounds(polls: dict[str, list[Poll]]) -> Iterable[list[PollInput]]:
    """The polls in rounds of at most one per store, each store's in time order."""
    for place in itertools.count():
        batch = [
            PollInput(store_id=store_id, at=moment(store_polls[place][0]), status="active" if store_polls[place][1] else "inactive")
            for store_id, store_polls in polls.items()
            if place < len(store_polls)
        ]
        if not batch:
            return
        yield batch


def mismatches(expected: set[Expected], found: set[Expected], limit: int = 8) -> str:
    """The first differences, by store and start: missing, unexpected, or different."""
    by_key = {(i.store_id, i.started_at): i for i in expected}
    db_by_key = {(i.store_id, i.started_at): i for i in found}
    lines = []
    for key in sorted(set(by_key) | set(db_by_key)):
        want, got = by_key.get(key), db_by_key.get(key)
        if want != got:
            lines.append(f"  {key[0]} started {key[1]:%Y-%m-%d %H:%M:%S}: brute force {want}\n{'':>30}database    {got}")
    return f"{len(lines)} differences, the first {min(limit, len(lines))}:\n" + "\n".join(lines[:limit])


@pytest.mark.parametrize("source", [SOURCE], ids=[SOURCE.name])
def test_a_simulated_week_opens_the_incidents_of_a_brute_force_scan(source: Source, owner, rule_settings) -> None:
    began, cpu = time.monotonic(), time.process_time()
    logger.info("schedules: %s%s", source.name, f" ({source.folder})" if source.folder else " (seeded, made by the test)")
    first_pass = int(source.first_pass.timestamp())
    first_poll_slot = first_pass - 24 * 3600
    end = first_pass + 7 * 24 * 3600  # the last pass
    passes = list(range(first_pass, end + 1, STEP))

    specs = schedules(source)
    assert len({spec.store_id for spec in specs}) == STORE_COUNT
    # Every 20th device, and those of the DST_EDGES stores, are silent around the clock changes.
    nights = [(int(start.timestamp()), int(stop.timestamp())) for start, stop in source.dst_nights]
    quiet = {spec.store_id for spec in specs[::20] + specs[-len(DST_EDGES) :]}
    polls = {spec.store_id: device_polls(spec.store_id, first_poll_slot, end, nights if spec.store_id in quiet else ()) for spec in specs}
    by_id = {spec.store_id: spec for spec in specs}

    # The brute force, first without closures to place them, then with them.
    before, tables, _ = brute_force(specs, polls, (), first_poll_slot, end, passes, keep_tables=True)
    closures = plan_closures(before.incidents, by_id, tables, first_poll_slot)
    del tables
    scan, _, open_passes = brute_force(specs, polls, closures, first_poll_slot, end, passes)
    brute_seconds = time.monotonic() - began

    # The product.
    organization = organization_of(owner)
    channel_create(organization=organization, kind=ChannelKind.EMAIL, name="managers", addresses=["ops@example.test"])
    for spec in specs:
        store_register(organization=organization, store_id=spec.store_id, timezone=spec.zone, week=list(spec.rows) or None)
    for closure in closures:
        closure_create(
            organization=organization,
            period=closure_period(closure.start, closure.end),
            reason="Simulated closure",
            created_by=owner,
            stores=[Store.objects.get(store_id=closure.store_id)],
        )
    stores = Store.objects.filter(organization=organization)
    steps: dict[int, dict[str, list[Poll]]] = defaultdict(dict)
    for store_id, store_polls in polls.items():
        for at, active in store_polls:
            # The step whose (previous step, step] holds the poll.
            step = first_poll_slot + max(1, -(-(at - first_poll_slot) // STEP)) * STEP
            steps[step].setdefault(store_id, []).append((at, active))
    recorded, spent = 0, Counter[str]()
    with time_machine.travel(moment(first_poll_slot), tick=False) as traveller:
        for step in range(first_poll_slot + STEP, end + 1, STEP):
            traveller.move_to(moment(step))
            clock = time.monotonic()
            for batch in record_rounds(steps.get(step, {})):
                outcomes = polls_record(polls=batch, stores=stores)
                assert set(outcomes) == {RECORDED}, Counter(outcomes)
                recorded += len(batch)
                spent["requests"] += 1
            spent["recording"] += time.monotonic() - clock
            if step >= first_pass:
                clock = time.monotonic()
                alerts_evaluate(now=moment(step))
                spent["passes"] += time.monotonic() - clock
    assert recorded == sum(map(len, polls.values()))

    # 1. The incidents are the brute force's, exactly.
    expected = set(scan.incidents)
    in_database = {
        Expected(*row)
        for row in Incident.objects.values_list(
            "store__store_id", "started_at", "opened_at", "reason", "resolved_at", "business_downtime_seconds"
        )
    }
    assert in_database == expected, mismatches(expected, in_database)
    assert not Flapping.objects.exists()

    # 2. Not vacuous: many incidents of both reasons, some no pass saw open
    # (recorded by the poll that ended them), across a closing time, "did not
    # open"; blips; the closures changed their stores' incidents.
    reasons = Counter(incident.reason for incident in expected)
    resolved = [incident for incident in expected if incident.resolved_at is not None]
    unseen = [incident for incident in resolved if not any(incident.opened_at < moment(at) < incident.resolved_at for at in passes)]
    between_passes = [incident for incident in unseen if incident.opened_at >= source.first_pass]
    assert len(expected) > 100 and min(reasons[INACTIVE], reasons[NO_SIGNAL]) > 10, reasons
    assert len(between_passes) > 10 and len(scan.spans_closing) > 5 and scan.did_not_open > 10 and scan.blips > 10
    assert {incident.store_id for incident in set(before.incidents) ^ expected} == {closure.store_id for closure in closures}
    on_dst_nights = [
        incident
        for incident in expected
        if any(
            incident.started_at < stop and (incident.resolved_at is None or incident.resolved_at > start)
            for start, stop in source.dst_nights
        )
    ]
    assert len(on_dst_nights) > 5
    assert scan.longest_run < 24 * 3600  # the passes' week back always holds a whole run
    openings: dict[str, list[int]] = defaultdict(list)
    for incident in sorted(expected, key=lambda i: i.opened_at):
        openings[incident.store_id].append(int(incident.opened_at.timestamp()))
    for store_openings in openings.values():  # hourly polls never flap: the rule's flapping is not modelled
        for place, at in enumerate(store_openings):
            assert place - bisect.bisect_right(store_openings, at - 3600) < FLAP_LIMIT

    # 3. Nothing sent outside business hours: openings and reminders are
    # written by passes inside the store's open hours; an incident a pass saw
    # open inside them is announced once; one no pass saw open, to nobody.
    told = list(
        Notification.objects.filter(event__in=[NotificationEvent.OPENED, NotificationEvent.REMINDER]).values_list(
            "incident__store__store_id", "incident__started_at", "event", "created_at"
        )
    )
    outside = [row for row in told if int(row[3].timestamp()) not in open_passes[row[0]]]
    assert told and not outside, outside[:5]
    announced = Counter((store_id, started_at) for store_id, started_at, event, _ in told if event == NotificationEvent.OPENED)
    for incident in expected:
        seen_open = any(
            incident.opened_at < moment(at) and (incident.resolved_at is None or moment(at) < incident.resolved_at)
            for at in open_passes[incident.store_id]
        )
        assert announced[(incident.store_id, incident.started_at)] == seen_open, incident
    told_of = set(Notification.objects.values_list("incident__store__store_id", "incident__started_at"))
    assert not told_of & {(incident.store_id, incident.started_at) for incident in unseen}

    events = Counter(Notification.objects.values_list("event", flat=True))
    summary = (
        f"{source.name}: {len(specs)} stores, {recorded} polls, {len(passes)} passes; {len(expected)} incidents "
        f"({reasons[INACTIVE]} inactive, {reasons[NO_SIGNAL]} no signal), {len(resolved)} resolved by a poll "
        f"({len(between_passes)} between two passes, {len(unseen) - len(between_passes)} before the first), "
        f"{len(expected) - len(resolved)} open at the end, {len(scan.spans_closing)} across a closing time, "
        f"{len(on_dst_nights)} on a clock-change night, {scan.did_not_open} did not open, {scan.blips} blips; "
        f"notifications {dict(events)}; brute force {brute_seconds:.1f} s, {spent['requests']} polls_record calls "
        f"{spent['recording']:.1f} s, passes {spent['passes']:.1f} s, all {time.monotonic() - began:.1f} s "
        f"({time.process_time() - cpu:.1f} s of CPU in this process)"
    )
    logger.info(summary)
    print(summary)
