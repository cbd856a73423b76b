"""StoreQuerySet: a store's state now, annotated in SQL (docs/semantics.md, rule 3)."""
import datetime as dt

import pytest

from stores.models import PollStatus, Store, StoreState
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 1, 10, 12, 0, tzinfo=dt.timezone.utc)
STALE_AFTER = dt.timedelta(minutes=120)  # MONITOR_STALE_AFTER_MINUTES, the default


def state_of(store_id: str) -> str:
    return Store.objects.with_state(now=NOW).get(store_id=store_id).state


@pytest.mark.parametrize(
    ("last_poll_at", "status", "state"),
    [
        (None, "", StoreState.AWAITING),
        (NOW - dt.timedelta(minutes=10), PollStatus.ACTIVE, StoreState.UP),
        (NOW - dt.timedelta(minutes=10), PollStatus.INACTIVE, StoreState.DOWN),
        # An active poll vouches for less than STALE_AFTER: at exactly 10:00 for
        # 12:00 it no longer does (no signal), one microsecond later it still does.
        (NOW - STALE_AFTER, PollStatus.ACTIVE, StoreState.NO_SIGNAL),
        (NOW - STALE_AFTER + dt.timedelta(microseconds=1), PollStatus.ACTIVE, StoreState.UP),
        (NOW - STALE_AFTER, PollStatus.INACTIVE, StoreState.NO_SIGNAL),
        (NOW - dt.timedelta(days=3), PollStatus.ACTIVE, StoreState.NO_SIGNAL),
    ],
    ids=["awaiting", "up", "down", "exactly stale", "a microsecond before stale", "stale inactive", "days old"],
)
def test_state_now(last_poll_at, status, state):
    StoreFactory(store_id="s-1", last_poll_at=last_poll_at, last_status=status)
    assert state_of("s-1") == state
