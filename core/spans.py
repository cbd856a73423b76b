"""The span rule: how a store's polls become status spans (docs/semantics.md,
section 6). Pure, on integers; polls_record (devices' polls) and the Loop
import both apply it through spans_apply, so the rule exists once.

A poll not newer than the store's latest poll is not recorded: an older one
is refused, the latest's instant again is a repeat (same status) or a
conflict (the other status). A newer poll extends the store's open span
when it has the span's status and comes less than the stale period after
the span's last poll, and opens a new span when not. Instants are integer
microseconds since the epoch (core.instants).
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple


class Verdict(enum.Enum):
    """What becomes of one poll."""

    RECORDED = "recorded"
    REPEAT = "repeat"  # the store's latest poll again, same instant and status
    OLDER = "older_than_latest"
    CONFLICT = "conflicting_status"  # the latest poll's instant with the other status


class LatestPoll(NamedTuple):
    """A store's latest poll: what a new poll is checked against."""

    at: int
    active: bool


@dataclass(slots=True)
class SpanRun:
    active: bool
    first: int
    last: int
    count: int
    # Primary key of the span row when it is already stored.
    pk: int | None = None


@dataclass(slots=True)
class StorePolls:
    """What applying one store's polls gives."""

    # Spans to insert, in time order (the last one is the store's open span).
    new: list[SpanRun] = field(default_factory=list)
    # The stored open span, when polls extended it.
    extended: SpanRun | None = None
    latest: int | None = None
    latest_active: bool = False
    recorded: int = 0
    skipped: int = 0


def encode_poll(micros: int, active: bool) -> int:
    """One integer per poll: sorting these orders polls by time, and at the
    same instant inactive before active."""
    return micros * 2 + active


def spans_apply(
    *,
    polls: Iterable[int],
    open_span: SpanRun | None,
    latest: LatestPoll | None,
    stale_after: int,
    verdicts: list[Verdict] | None = None,
) -> StorePolls:
    """Apply a store's encoded polls, in the order given, after its `latest`
    poll and its stored `open_span` (None for either when it has none). With
    `verdicts`, one Verdict per poll is appended to it, in order."""
    result = StorePolls()
    latest_at = None
    if latest is not None:
        latest_at, result.latest, result.latest_active = latest.at, latest.at, latest.active
    span = open_span
    for value in polls:
        at, active = value >> 1, bool(value & 1)
        if latest_at is not None and at <= latest_at:
            result.skipped += 1
            if verdicts is not None:
                if at < latest_at:
                    verdicts.append(Verdict.OLDER)
                else:
                    verdicts.append(Verdict.REPEAT if active == result.latest_active else Verdict.CONFLICT)
            continue
        if span is not None and span.active == active and at - span.last < stale_after:
            span.last = at
            span.count += 1
            if span.pk is not None:
                result.extended = span
        else:
            span = SpanRun(active, at, at, 1)
            result.new.append(span)
        latest_at = at
        result.latest, result.latest_active = at, active
        result.recorded += 1
        if verdicts is not None:
            verdicts.append(Verdict.RECORDED)
    return result
