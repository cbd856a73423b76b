"""store_uptime for many stores at once, with numpy: the same rule, the same
integer microseconds, every store's spans walked in one pass of array
operations instead of a Python loop per span.

store_uptime (core.uptime) walks a store's spans one by one, looking each
status interval up in the cumulative open time of the store's week
(OpenTime). Here the spans of all the stores are laid end to end, and the
weeks' OpenTimes too, each week's bounds shifted into a range of its own
(KEY_RANGE apart), so that one sorted array answers every store's lookups:
one np.searchsorted for the starts of the status intervals, one for their
ends, one for the expiries. Per-store sums are np.add.reduceat over each
store's run of spans. All int64: a week is about 6 × 10^11 microseconds,
far from 2^63, so every figure is exactly store_uptime's (tested against it
in core/tests/test_uptime_batch.py).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import chain
from typing import NamedTuple

# No BLAS thread pool: nothing here multiplies matrices, and OpenBLAS's
# threads, started at import, spin on the cores the workers and PostgreSQL
# share (cachegrind counts them in a report chunk's work).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the setting above, which numpy reads at import)

from .instants import WEEK
from .uptime import (
    FIELD_UNITS,
    Span,
    UptimeFigures,
    WeekOpenTime,
    hundredths_text,
    percent_hundredths,
    percent_text,
    unit_hundredths,
    unit_text,
)

# Each distinct week's bounds, less the batch's base, lie within [0, KEY_RANGE):
# a WeekOpenTime reaches from a week and a day before as_of to a day after it.
KEY_RANGE = 4 * WEEK


class SpanColumns(NamedTuple):
    """Many stores' spans laid end to end in the stores' order: the first
    `lengths[0]` are the first store's, sorted by first poll, and so on.
    int64 arrays; `active` is 1 or 0."""

    lengths: np.ndarray
    active: np.ndarray
    first: np.ndarray
    last: np.ndarray


def span_columns_of_lists(
    lengths: Sequence[int], active: Sequence[int], first: Sequence[int], last: Sequence[int], *, shift: int = 0
) -> SpanColumns:
    """The SpanColumns of plain lists (`shift` added to every instant)."""
    # fromiter with the count: no pass over the values to find their type and shape, as np.array makes.
    total = len(first)
    return SpanColumns(
        np.fromiter(lengths, dtype=np.int64, count=len(lengths)),
        np.fromiter(active, dtype=np.int64, count=total),
        np.fromiter(first, dtype=np.int64, count=total) + shift,
        np.fromiter(last, dtype=np.int64, count=total) + shift,
    )


def span_columns(spans: Sequence[Sequence[Span]]) -> SpanColumns:
    """The SpanColumns of lists of spans, one list per store."""
    lengths = np.fromiter(map(len, spans), dtype=np.int64, count=len(spans))
    total = int(lengths.sum())
    values = np.fromiter(chain.from_iterable(chain.from_iterable(spans)), dtype=np.int64, count=3 * total)
    return SpanColumns(lengths, values[0::3], values[1::3], values[2::3])


class _Weeks:
    """The distinct weeks of a batch as one sorted array of keys (week index
    × KEY_RANGE + bound - base) and their offsets laid end to end; `at`
    is OpenTime.at for any number of (week, instant) pairs."""

    def __init__(self, weeks: Sequence[WeekOpenTime], base: int) -> None:
        lengths = np.fromiter((len(week.open_time.bounds) for week in weeks), dtype=np.int64, count=len(weeks))
        bounds = np.fromiter(chain.from_iterable(week.open_time.bounds for week in weeks), dtype=np.int64)
        offsets = np.fromiter(chain.from_iterable(week.open_time.offsets for week in weeks), dtype=np.int64)
        shifted = bounds - base
        if len(shifted) and (shifted.min() < 0 or shifted.max() >= KEY_RANGE):
            raise ValueError("an open time reaches beyond the batch's key range")
        self.keys = np.repeat(np.arange(len(weeks), dtype=np.int64) * KEY_RANGE, lengths) + shifted
        self.bound_start = np.cumsum(lengths) - lengths
        self.offset_start = self.bound_start + np.arange(len(weeks), dtype=np.int64)  # a week has one offset more
        self.offsets = offsets
        self.base = base
        self.at_hour_start = np.fromiter((week.at_hour_start for week in weeks), dtype=np.int64, count=len(weeks))
        self.at_day_start = np.fromiter((week.at_day_start for week in weeks), dtype=np.int64, count=len(weeks))
        self.at_end = np.fromiter((week.at_end for week in weeks), dtype=np.int64, count=len(weeks))

    def at(self, week: np.ndarray, t: np.ndarray) -> np.ndarray:
        # j = bisect_right(bounds, t) within the week's own bounds.
        j = np.searchsorted(self.keys, week * KEY_RANGE + (t - self.base), side="right") - self.bound_start[week]
        value = self.offsets[self.offset_start[week] + j]
        return np.where(j & 1, value + t, value)


def stores_uptime_array(
    *,
    spans: SpanColumns,
    weeks: Sequence[tuple[WeekOpenTime, WeekOpenTime]],
    as_of: int,
    stale_after: int,
) -> np.ndarray:
    """store_uptime of each store, as an int64 array: a row per store, a
    column per field of UptimeFigures (the form figure_texts reads). The
    i-th store's spans are the i-th run of `spans`, measured in `weeks[i]`,
    the (business, open) pair core.uptime.store_weeks gives for its hours,
    zone and closures as of `as_of`. Stores sharing a week should share the
    objects: each distinct one is laid out once."""
    count = len(weeks)
    figures = np.zeros((count, len(UptimeFigures._fields)), dtype=np.int64)
    lengths, active, first, last = spans
    total = len(first)
    if total == 0:
        return figures
    start, end = as_of - WEEK, as_of
    store = np.repeat(np.arange(count, dtype=np.int64), lengths)
    # Each span lasts until the next one of its store begins, the last one until `end`.
    following = np.empty(total, dtype=np.int64)
    following[:-1] = first[1:]
    following[np.cumsum(lengths)[lengths > 0] - 1] = end
    np.minimum(following, end, out=following)
    # The spans inside the week: a store's are consecutive, from its first
    # one ending after `start` to its last one beginning before `end`.
    inside = np.flatnonzero((following > start) & (first < end))
    if len(inside) == 0:
        return figures
    store, active, first, last, following = store[inside], active[inside], first[inside], last[inside], following[inside]
    runs = np.flatnonzero(np.r_[True, store[1:] != store[:-1]])  # where each store's spans begin
    measured = store[runs]

    # The distinct weeks (by identity: shared objects), and each store's
    # index among them: its business week's, then its open week's.
    every = list(chain.from_iterable(weeks))
    _, firsts, indexes = np.unique(np.fromiter(map(id, every), dtype=np.int64, count=2 * count), return_index=True, return_inverse=True)
    table = _Weeks([every[i] for i in firsts.tolist()], start - WEEK)
    business_index, open_index = indexes[0::2], indexes[1::2]

    week = open_index[store]
    begin = np.maximum(first, start)
    at_begin = table.at(week, begin)
    at_following = table.at(week, following)
    # The status holds from begin until it expires, brought into [begin, following].
    at_expires = table.at(week, np.clip(last + stale_after, begin, following))
    at_hour_start, at_day_start = table.at_hour_start[week], table.at_day_start[week]

    def windows(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # The open time inside [a, b) within the last hour, day and week, per store.
        hour = np.where(mask, np.maximum(b - np.maximum(a, at_hour_start), 0), 0)
        day = np.where(mask, np.maximum(b - np.maximum(a, at_day_start), 0), 0)
        whole = np.where(mask, b - a, 0)
        return tuple(np.add.reduceat(sums, runs) for sums in (hour, day, whole))  # type: ignore[return-value]

    up_hour, up_day, up_week = windows((active != 0) & (at_begin < at_expires), at_begin, at_expires)
    no_signal_hour, no_signal_day, no_signal_week = windows(at_expires < at_following, at_expires, at_following)

    # From its first status on, a store is up or down at every open instant.
    opened, business = open_index[measured], business_index[measured]
    monitored_from, at_monitored = begin[runs], at_begin[runs]
    store_hour_start, store_day_start = table.at_hour_start[opened], table.at_day_start[opened]
    at_end = table.at_end[opened]
    down_hour = at_end - np.maximum(at_monitored, store_hour_start) - up_hour
    down_day = at_end - np.maximum(at_monitored, store_day_start) - up_day
    down_week = at_end - at_monitored - up_week
    # Closed time (0 where the two weeks are one), as store_uptime counts it.
    closed_at_end = table.at_end[business] - at_end
    closed_at_monitored = table.at(business, monitored_from) - at_monitored
    closed_hour = closed_at_end - np.maximum(closed_at_monitored, table.at_hour_start[business] - store_hour_start)
    closed_day = closed_at_end - np.maximum(closed_at_monitored, table.at_day_start[business] - store_day_start)
    closed_week = closed_at_end - closed_at_monitored
    figures[measured] = np.column_stack(
        (
            up_hour, up_day, up_week, down_hour, down_day, down_week,
            no_signal_hour, no_signal_day, no_signal_week, closed_hour, closed_day, closed_week,
        )  # fmt: skip
    )
    return figures


def figure_texts(figures: np.ndarray) -> list[list[str]]:
    """The CSV texts of stores_uptime_array's rows, a list per column: the
    report's six (report_texts), then the extended nine (extended_texts),
    the same texts those give one store at a time. Each distinct value of a
    column is written once (a report's figures repeat: a whole hour open,
    nothing down)."""
    columns = [_unit_texts(figures[:, field], unit) for field, unit in enumerate(FIELD_UNITS)]
    for window in range(3):
        columns.append(_percent_texts(figures[:, window], figures[:, 3 + window]))
    return columns


def _unit_texts(micros: np.ndarray, unit: int) -> list[str]:
    values, where = np.unique(micros, return_inverse=True)
    if len(values) and values[0] < 0:  # never a duration: unit_text's own way
        texts = [unit_text(value, unit) for value in values.tolist()]
    else:
        texts = list(map(hundredths_text, unit_hundredths(values, unit).tolist()))
    return np.array(texts, dtype=object)[where].tolist()


def _percent_texts(up: np.ndarray, down: np.ndarray) -> list[str]:
    # The distinct (up, down) pairs by sorting on both (np.unique's rows
    # compare as bytes, several times slower).
    order = np.lexsort((down, up))
    up, down = up[order], down[order]
    starts = np.r_[True, (up[1:] != up[:-1]) | (down[1:] != down[:-1])]
    up, down = up[starts], down[starts]
    total = up + down
    if len(up) and (up.min() < 0 or down.min() < 0):  # never durations: percent_text's own way
        texts = [percent_text(a, b) for a, b in zip(up.tolist(), down.tolist())]
    else:
        # Not monitored at all (total 0): no percentage.
        measured = percent_hundredths(up, np.maximum(total, 1)).tolist()
        texts = [hundredths_text(h) if t else "" for h, t in zip(measured, total.tolist())]
    where = np.empty(len(order), dtype=np.int64)
    where[order] = np.cumsum(starts) - 1
    return np.array(texts, dtype=object)[where].tolist()
