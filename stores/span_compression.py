"""The span rule on integers, for bulk paths (the Loop import, the benchmarks).

The rule is polls_record's (stores/services.py), which devices go through: a
poll not newer than the store's latest poll is skipped (a repeat, an older
poll, or the other status at the same instant); otherwise it extends the
store's open span when it has the span's status and comes less than the stale
period after the span's last poll, and opens a new span when not. Times are
integer microseconds since the epoch; tests check that both paths give the
same spans.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


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


def spans_apply(*, polls: Iterable[int], open_span: SpanRun | None, latest: int | None, stale_after: int) -> StorePolls:
    """Apply a store's encoded polls, sorted, after its `latest` poll and
    stored `open_span` (None for either when it has none)."""
    result = StorePolls(latest=latest)
    span = open_span
    for value in polls:
        at, active = value >> 1, bool(value & 1)
        if latest is not None and at <= latest:
            result.skipped += 1
            continue
        if span is not None and span.active == active and at - span.last < stale_after:
            span.last = at
            span.count += 1
            if span.pk is not None:
                result.extended = span
        else:
            span = SpanRun(active, at, at, 1)
            result.new.append(span)
        latest = at
        result.latest, result.latest_active = at, active
        result.recorded += 1
    return result
