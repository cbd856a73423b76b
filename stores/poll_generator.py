"""Synthetic polls in the Loop format: regular polls with jitter, missed polls and outages.

Used by `manage.py generate_polls` and by the benchmarks, so both make the
same data from the same seed.
"""
from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from core import instants

Poll = tuple[int, bool]  # (microseconds since the epoch, active)


@dataclass(frozen=True)
class PollPattern:
    interval_minutes: int = 60
    jitter_minutes: int = 5
    # Chance that a device's poll never arrives.
    missed_rate: float = 0.02
    # Chance, at each poll, that an outage starts; it lasts outage_polls polls.
    outage_rate: float = 0.01
    outage_polls: tuple[int, int] = (1, 4)


def store_rng(seed: int, store_id: str) -> random.Random:
    # One generator per store (string seeds are hashed with SHA-512, so stable
    # across processes): a store gets the same polls whatever else is generated.
    return random.Random(f"{seed}/{store_id}")


def generate_polls(rng: random.Random, start: int, count: int, pattern: PollPattern = PollPattern()) -> list[Poll]:
    """`count` poll slots from `start`, one per interval, each inside its own
    interval: a per-store offset, ± jitter; some missed, some inactive in outages."""
    interval = pattern.interval_minutes * instants.MINUTE
    jitter = min(pattern.jitter_minutes * instants.MINUTE, interval // 2)
    offset = jitter + int(rng.random() * (interval - 2 * jitter))
    random_ = rng.random
    polls: list[Poll] = []
    outage_left = 0
    for slot in range(count):
        # The outage goes on whether or not the device manages to poll.
        if outage_left:
            outage_left -= 1
            active = False
        elif random_() < pattern.outage_rate:
            outage_left = rng.randint(*pattern.outage_polls) - 1
            active = False
        else:
            active = True
        if random_() < pattern.missed_rate:
            continue
        polls.append((start + slot * interval + offset + int((random_() * 2 - 1) * jitter), active))
    return polls


def loop_timestamp(micros: int) -> str:
    return f"{instants.from_micros(micros):%Y-%m-%d %H:%M:%S.%f} UTC"


def write_loop_csv(
    out: TextIO,
    store_ids: Iterable[str],
    *,
    start: int,
    count: int,
    pattern: PollPattern,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write `store_id,status,timestamp_utc` rows, store by store; returns the
    number of polls. `progress` gets the number of stores written after each."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("store_id", "status", "timestamp_utc"))
    written = 0
    for done, store_id in enumerate(store_ids, 1):
        for at, active in generate_polls(store_rng(seed, store_id), start, count, pattern):
            writer.writerow((store_id, "active" if active else "inactive", loop_timestamp(at)))
            written += 1
        if progress is not None:
            progress(done)
    return written
