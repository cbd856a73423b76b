"""Incidents: when a store that should be open is not (docs/semantics.md,
section 8). Pure Python, no Django; instants in microseconds, as the engine.

A store is **in trouble** at an instant inside its business hours (closures
removed) when its status is down: an `inactive` poll, or no signal. An
**incident** opens at the first instant in trouble after the grace period of
trouble, counted in business time within one **down run** (a maximal stretch of down
status: it ends only when an `active` poll arrives), so trouble that stops at
closing time and is still there at the next opening continues the same run,
and a store down all night opens one at opening time + grace ("did not
open"). It starts when the run's trouble began, and resolves when the run
ends. A store opening more than `flap_limit` incidents within an hour is
**flapping**: one notice, and no more incidents until it has been up for
`steady` without a break.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .instants import HOUR, MINUTE
from .uptime import Interval, Span, intersect, merge, status_timeline

INACTIVE = "inactive"
NO_SIGNAL = "no_signal"
# A flapping store must be up this long without a break before incidents open again.
STEADY = 30 * MINUTE
FLAP_WINDOW = HOUR


class Incident(NamedTuple):
    started_at: int  # when the run's trouble began
    opened_at: int  # when its trouble reached the grace period
    reason: str  # INACTIVE or NO_SIGNAL, whichever held at opened_at
    resolved_at: int | None  # when an active poll ended the run; None while it lasts
    business_downtime: int  # the run's trouble (down inside business hours), until resolved_at or the end


class Flapping(NamedTuple):
    at: int  # when the incident that would have been one too many would have opened
    until: int | None  # when the store had been up for STEADY without a break; None if not yet


class IncidentHistory(NamedTuple):
    incidents: list[Incident]
    flapping: list[Flapping]


def _opening(trouble: Sequence[Interval], grace: int) -> int | None:
    """The first instant in trouble after `grace` of trouble, if there is one:
    always inside business hours, and always while the run is still down."""
    total = 0
    for s, e in trouble:
        if total + (e - s) > grace:
            return s + (grace - total)
        total += e - s
    return None


def _inside(instant: int, intervals: Sequence[Interval]) -> bool:
    return any(s <= instant < e for s, e in intervals)


def store_incidents(
    *,
    spans: Sequence[Span],
    open_hours: Sequence[Interval],
    stale_after: int,
    grace: int,
    start: int,
    end: int,
    flap_limit: int = 4,
) -> IncidentHistory:
    """The incidents (and flapping notices) of one store over [start, end).

    `open_hours`: its business hours with closures removed (sorted, disjoint
    UTC intervals covering at least [start, end)). A run already down at
    `start` counts from its own beginning only as far as `start`: callers
    pass a range starting before anything they report on.
    """
    timeline = status_timeline(spans, stale_after, start, end)
    incidents: list[Incident] = []
    flapping: list[Flapping] = []
    up = merge(timeline.up)
    for run_start, run_end in merge(timeline.down):
        trouble = intersect([(run_start, run_end)], open_hours)
        if not trouble:
            continue
        opened = _opening(trouble, grace)
        if opened is None:
            continue
        if flapping and (flapping[-1].until is None or opened < flapping[-1].until):
            continue  # flapping: no incidents until steady
        recent = [i for i in incidents if opened - FLAP_WINDOW < i.opened_at <= opened]
        if len(recent) >= flap_limit:
            flapping.append(Flapping(opened, _steady_from(up, opened)))
            continue
        reason = NO_SIGNAL if _inside(opened, timeline.no_signal) else INACTIVE
        resolved = run_end if run_end < end else None
        incidents.append(Incident(trouble[0][0], opened, reason, resolved, sum(e - s for s, e in trouble)))
    return IncidentHistory(incidents, flapping)


def _steady_from(up: Sequence[Interval], after: int) -> int | None:
    """The first instant after `after` at which the store has been up for STEADY without a break."""
    for s, e in up:
        if e <= after:
            continue
        begin = s if s > after else after
        if e - begin >= STEADY:
            return begin + STEADY
    return None
