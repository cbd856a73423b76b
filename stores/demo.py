"""A small demo data set: a few stores across time zones with a week of polls and some downtime.

Polls go through polls_record, the service devices use, so the spans are
exactly what a week of real polling would leave.
"""
from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from accounts.models import Organization, StoreGroup

from .models import Store
from .hours import HoursInput
from .services import PollInput, polls_record, store_register

T = dt.time
# (store id, zone, group (a region), week of hours; days left out are open all day)
DEMO_STORES: list[tuple[str, str, str, list[HoursInput]]] = [
    ("demo-chicago-diner", "America/Chicago", "americas", [HoursInput(day, T(7), T(22)) for day in range(7)]),
    (
        "demo-new-york-late-night",
        "America/New_York",
        "americas",
        [HoursInput(day, T(18), T(2)) for day in range(5)] + [HoursInput(5, T(12), T(4)), HoursInput(6, closed=True)],
    ),
    (
        "demo-los-angeles-cafe",
        "America/Los_Angeles",
        "americas",
        [HoursInput(day, T(6), T(15)) for day in range(6)] + [HoursInput(6, closed=True)],
    ),
    ("demo-london-pub", "Europe/London", "europe", [HoursInput(day, T(11), T(23, 59, 59)) for day in range(7)]),
    ("demo-kolkata-kitchen", "Asia/Kolkata", "asia-pacific", [HoursInput(day, T(10), T(14)) for day in range(7)]
     + [HoursInput(day, T(18), T(23)) for day in range(7)]),
    ("demo-sydney-bar", "Australia/Sydney", "asia-pacific", []),  # open all week
]


def _polls(store_id: str, rng: random.Random, *, start: dt.datetime, end: dt.datetime) -> list[PollInput]:
    """Hourly polls with jitter, a few missed ones, and outages of one to five hours."""
    polls: list[PollInput] = []
    at = start + dt.timedelta(minutes=rng.randint(0, 59))
    outage_left = 0
    while at < end:
        if outage_left == 0 and rng.random() < 0.03:
            outage_left = rng.randint(1, 5)
        status = "inactive" if outage_left else "active"
        outage_left = max(0, outage_left - 1)
        if rng.random() > 0.03:  # a missed poll now and then
            polls.append(PollInput(store_id=store_id, at=at, status=status))
        at += dt.timedelta(hours=1, seconds=rng.randint(-240, 240))
    return polls


def demo_load(*, organization: Organization, now: dt.datetime, seed: int = 7) -> list[Store]:
    """Register the demo stores in an organization, each in its region's
    group, and post eight days of polls ending at `now`.

    Run again, it adds nothing: stores are updated, and polls not newer than
    a store's latest are refused as they would be from a device.
    """
    rng = random.Random(seed)
    stores = []
    with transaction.atomic():
        groups = {
            group.name: group
            for group in (
                StoreGroup.objects.get_or_create(organization=organization, name=name)[0]
                for name in sorted({group for _, _, group, _ in DEMO_STORES})
            )
        }
        for store_id, zone, group, week in DEMO_STORES:
            registered = store_register(
                organization=organization, store_id=store_id, timezone=zone, week=week, groups=[groups[group]]
            )
            stores.append(registered.store)
        polls: list[PollInput] = []
        for store in stores:
            polls += _polls(store.store_id, rng, start=now - dt.timedelta(days=8), end=now)
        # Applied in time order per store, as devices would send them.
        polls.sort(key=lambda poll: (poll.store_id, poll.at))
        polls_record(polls=polls, stores=Store.objects.filter(organization=organization))
    return stores
