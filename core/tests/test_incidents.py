"""Incidents, by hand and against a per-second scan of the rules
(docs/semantics.md, section 8). Unless a test says otherwise: a Chicago
store open 09:00-17:00 every day, stale period 2 hours, grace 10 minutes,
polls every 5 minutes."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from core import closures, uptime
from core.incidents import INACTIVE, NO_SIGNAL, STEADY, Flapping, Incident, store_incidents
from core.instants import DAY, HOUR, MINUTE, SECOND, WEEK
from core.uptime import HoursEntry

from .test_closures import local_rule
from .test_uptime import CHICAGO, STALE, every, local, spans_from_polls, t
from .test_uptime_property import SETTINGS, closed_seconds, closure_rules, open_seconds, scenarios, spec_closures

GRACE = 10 * MINUTE
NINE_TO_FIVE = [HoursEntry(day, t(9), t(17)) for day in range(7)]


def jan(day: int, hour: int, minute: int = 0) -> int:
    return local(CHICAGO, 2024, 1, day, hour, minute)


def history(polls, *, entries=NINE_TO_FIVE, rules=(), grace=GRACE, end=None, flap_limit=4):
    end = end if end is not None else jan(11, 0)
    start = end - WEEK
    business = uptime.business_intervals(uptime.weekly_hours(entries), CHICAGO, start, end)
    open_hours = uptime.subtract(business, closures.closure_intervals(rules, CHICAGO, start, end))
    return store_incidents(
        spans=spans_from_polls(sorted(polls), STALE),
        open_hours=open_hours,
        stale_after=STALE,
        grace=grace,
        start=start,
        end=end,
        flap_limit=flap_limit,
    )


def up_then(*pieces) -> list[tuple[int, bool]]:
    """Active every 5 minutes from a week before, then the pieces (lists of polls)."""
    polls = every(jan(11, 0) - 2 * WEEK, jan(10, 8), 5 * MINUTE)
    for piece in pieces:
        polls += piece
    return polls


def test_a_blip_shorter_than_the_grace_period_raises_nothing():
    """Inactive 10:00-10:09 on the 10th, active again at 10:10 (up to 10:05's poll: 10 minutes down would be one)."""
    polls = up_then(
        every(jan(10, 8, 5), jan(10, 9, 55), 5 * MINUTE),
        every(jan(10, 10), jan(10, 10, 5), 5 * MINUTE, active=False),
        every(jan(10, 10, 10), jan(10, 23), 5 * MINUTE),
    )
    assert history(polls).incidents == []


def test_an_outage_opens_after_the_grace_period_and_resolves_with_the_active_poll():
    """Inactive from 10:00, active again at 11:30: opened 10:10, resolved 11:30, 90 minutes of business downtime."""
    polls = up_then(
        every(jan(10, 8, 5), jan(10, 9, 55), 5 * MINUTE),
        every(jan(10, 10), jan(10, 11, 25), 5 * MINUTE, active=False),
        every(jan(10, 11, 30), jan(10, 23), 5 * MINUTE),
    )
    assert history(polls).incidents == [Incident(jan(10, 10), jan(10, 10, 10), INACTIVE, jan(10, 11, 30), 90 * MINUTE)]


def test_a_store_down_overnight_opens_at_opening_time_plus_grace():
    """Inactive from 18:00 on the 9th (after closing), still on the 10th: "did not open" at 09:10."""
    polls = every(jan(11, 0) - 2 * WEEK, jan(9, 17, 55), 5 * MINUTE) + every(jan(9, 18), jan(10, 10, 55), 5 * MINUTE, active=False) + every(
        jan(10, 11), jan(10, 23), 5 * MINUTE
    )
    assert history(polls).incidents == [Incident(jan(10, 9), jan(10, 9, 10), INACTIVE, jan(10, 11), 2 * HOUR)]


def test_trouble_at_closing_still_there_at_opening_continues_the_same_incident():
    """Inactive from 16:55 on the 9th to 09:05 on the 10th: 5 minutes before closing and 5 after
    opening make the grace period, so it opens at 09:05 on the 10th, started 16:55 the day before."""
    polls = up_then(
        every(jan(9, 8, 5) - DAY, jan(9, 16, 50), 5 * MINUTE),
        every(jan(9, 16, 55), jan(10, 9, 10), 5 * MINUTE, active=False),
        every(jan(10, 9, 15), jan(10, 23), 5 * MINUTE),
    )
    found = history(polls).incidents
    assert found == [Incident(jan(9, 16, 55), jan(10, 9, 5), INACTIVE, jan(10, 9, 15), 20 * MINUTE)]


def test_a_closure_in_the_middle_of_an_outage_is_not_downtime_and_keeps_one_incident():
    """Inactive 10:00-15:00, closed 11:00-14:00: one incident, 2 hours of business downtime."""
    polls = up_then(
        every(jan(10, 8, 5), jan(10, 9, 55), 5 * MINUTE),
        every(jan(10, 10), jan(10, 14, 55), 5 * MINUTE, active=False),
        every(jan(10, 15), jan(10, 23), 5 * MINUTE),
    )
    rule = local_rule(dt.datetime(2024, 1, 10, 11), dt.datetime(2024, 1, 10, 14))
    assert history(polls, rules=[rule]).incidents == [Incident(jan(10, 10), jan(10, 10, 10), INACTIVE, jan(10, 15), 2 * HOUR)]


def test_an_outage_entirely_inside_a_closure_opens_nothing():
    polls = up_then(
        every(jan(10, 8, 5), jan(10, 11, 55), 5 * MINUTE),
        every(jan(10, 12), jan(10, 12, 55), 5 * MINUTE, active=False),
        every(jan(10, 13), jan(10, 23), 5 * MINUTE),
    )
    rule = local_rule(dt.datetime(2024, 1, 10, 11), dt.datetime(2024, 1, 10, 14))
    assert history(polls, rules=[rule]).incidents == []


def test_no_signal_begins_exactly_at_the_stale_period():
    """The last poll at 10:00 (active): up until 12:00 exactly, down with no signal from then; opened 12:10."""
    polls = up_then(every(jan(10, 8, 5), jan(10, 10), 5 * MINUTE), every(jan(10, 16), jan(10, 23), 5 * MINUTE))
    assert history(polls).incidents == [Incident(jan(10, 12), jan(10, 12, 10), NO_SIGNAL, jan(10, 16), 4 * HOUR)]


def test_on_a_dst_morning_the_store_opens_at_local_nine():
    """10 March 2024 (02:00 CST -> 03:00 CDT): down all night, the store opens at 09:00 CDT (14:00 UTC); opened 09:10."""
    end = local(CHICAGO, 2024, 3, 11)
    polls = every(end - 2 * WEEK, local(CHICAGO, 2024, 3, 9, 17, 55), 5 * MINUTE) + every(
        local(CHICAGO, 2024, 3, 9, 18), local(CHICAGO, 2024, 3, 10, 9, 55), 5 * MINUTE, active=False
    ) + every(local(CHICAGO, 2024, 3, 10, 10), end - MINUTE, 5 * MINUTE)
    found = history(polls, end=end).incidents
    assert found == [
        Incident(local(CHICAGO, 2024, 3, 10, 9), local(CHICAGO, 2024, 3, 10, 9, 10), INACTIVE, local(CHICAGO, 2024, 3, 10, 10), HOUR)
    ]
    assert found[0].started_at == uptime.to_micros(dt.datetime(2024, 3, 10, 14, tzinfo=dt.timezone.utc))


def test_a_store_opening_too_many_incidents_in_an_hour_is_flapping_until_steady():
    """Down 11 minutes in every 13 from 09:00 (six outages), then up from 10:16:
    incidents open at 09:10, 09:23, 09:36, 09:49; the fifth, at 10:02, would be
    more than four within the hour: a flapping notice instead, and the sixth
    (10:15) opens nothing; the store is steady at 10:46, 30 minutes after its last outage."""
    polls = up_then(every(jan(10, 8, 5), jan(10, 8, 55), 5 * MINUTE))
    for k in range(6):
        begin = jan(10, 9) + k * 13 * MINUTE
        polls += [(begin, False), (begin + 11 * MINUTE, True)]
    polls += every(jan(10, 10, 30), jan(10, 23), 5 * MINUTE)
    found = history(polls)
    assert [incident.opened_at for incident in found.incidents] == [jan(10, 9, 10) + k * 13 * MINUTE for k in range(4)]
    assert found.flapping == [Flapping(jan(10, 10, 2), jan(10, 10, 16) + STEADY)]


def test_exactly_an_hour_apart_is_not_within_the_hour():
    """Outages every 15 minutes: the fifth opens 60 minutes after the first, not within the hour."""
    polls = up_then(every(jan(10, 8, 5), jan(10, 8, 55), 5 * MINUTE))
    for k in range(5):
        begin = jan(10, 9) + k * 15 * MINUTE
        polls += [(begin, False), (begin + 12 * MINUTE, True)]
    polls += every(jan(10, 10, 30), jan(10, 23), 5 * MINUTE)
    found = history(polls)
    assert (len(found.incidents), found.flapping) == (5, [])


def test_a_grace_of_zero_opens_at_the_first_instant_of_trouble():
    polls = up_then(
        every(jan(10, 8, 5), jan(10, 9, 55), 5 * MINUTE),
        [(jan(10, 10), False)],
        every(jan(10, 10, 1), jan(10, 23), 5 * MINUTE),
    )
    assert history(polls, grace=0).incidents == [Incident(jan(10, 10), jan(10, 10), INACTIVE, jan(10, 10, 1), MINUTE)]


# --------------------------------------------------------------------------
# Against a per-second scan of the rules
# --------------------------------------------------------------------------


def scan(polls, entries, zone_name, start, end, stale, grace, closed, flap_limit=4):
    """The rules walked second by second over [start, end), all in seconds:
    runs of down status; trouble = down inside business hours and outside
    closures; an incident at the first trouble second after `grace` seconds
    of trouble in its run; flapping as the rule says."""
    business = open_seconds(entries, zone_name, start, end)
    shut = closed_seconds(closed, start, end)
    seen = [poll for poll in polls if poll[0] < end]
    k, at, active = -1, 0, False
    following = seen[0][0] if seen else end + 1
    runs = []  # (first trouble, opened, reason, run end or None, trouble seconds)
    run = None
    up_since = None
    ups = []  # (start, end) of up streaks
    for t in range(start, end):
        while t >= following:
            k += 1
            at, active = seen[k]
            following = seen[k + 1][0] if k + 1 < len(seen) else end + 1
        if k < 0:
            continue
        down = not (active and t - at < stale)
        if down:
            if up_since is not None:
                ups.append((up_since, t))
                up_since = None
            if run is None:
                run = {"first": None, "opened": None, "reason": None, "trouble": 0}
            if business[t - start] and not shut[t - start]:
                if run["first"] is None:
                    run["first"] = t
                if run["opened"] is None and run["trouble"] == grace:
                    run["opened"] = t
                    run["reason"] = NO_SIGNAL if t - at >= stale else INACTIVE
                run["trouble"] += 1
        else:
            if up_since is None:
                up_since = t
            if run is not None:
                runs.append((run, t))
                run = None
    if run is not None:
        runs.append((run, None))
    if up_since is not None:
        ups.append((up_since, end))
    incidents, flapping = [], []
    for run, run_end in runs:
        if run["opened"] is None:
            continue
        opened = run["opened"]
        if flapping and (flapping[-1][1] is None or opened < flapping[-1][1]):
            continue
        if len([i for i in incidents if opened - 3600 < i[1] <= opened]) >= flap_limit:
            steady = next((max(s, opened) + STEADY // SECOND for s, e in ups if e - max(s, opened) >= STEADY // SECOND), None)
            flapping.append((opened, steady))
            continue
        incidents.append((run["first"], opened, run["reason"], run_end, run["trouble"]))
    return incidents, flapping


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), scenario=scenarios(longest=WEEK // SECOND, max_polls=150), grace=st.sampled_from([0, 60, 600, 3600]))
def test_incidents_match_a_per_second_scan_of_the_rules(data, scenario, grace):
    zone, entries, stale, as_of, polls = scenario
    start, end = as_of - WEEK // SECOND, as_of
    rules = data.draw(closure_rules(zone, as_of, WEEK // SECOND))
    hours = uptime.weekly_hours(entries)
    business = uptime.business_intervals(hours, zone, start * SECOND, end * SECOND)
    open_hours = uptime.subtract(business, closures.closure_intervals(rules, zone, start * SECOND, end * SECOND))
    got = store_incidents(
        spans=spans_from_polls([(at * SECOND, active) for at, active in polls], stale * SECOND),
        open_hours=open_hours,
        stale_after=stale * SECOND,
        grace=grace * SECOND,
        start=start * SECOND,
        end=end * SECOND,
    )
    want_incidents, want_flapping = scan(polls, entries, zone, start, end, stale, grace, spec_closures(rules, zone))
    assert [
        (i.started_at // SECOND, i.opened_at // SECOND, i.reason, None if i.resolved_at is None else i.resolved_at // SECOND, i.business_downtime // SECOND)
        for i in got.incidents
    ] == want_incidents
    assert [(f.at // SECOND, None if f.until is None else f.until // SECOND) for f in got.flapping] == want_flapping
