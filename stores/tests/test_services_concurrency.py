"""Concurrent polls_record calls for the same stores (PostgreSQL only: SQLite
serialises writers at BEGIN, so it cannot show a race)."""
import datetime as dt
import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from stores.models import PollStatus, Store, StatusSpan
from stores.services import OLDER_THAN_LATEST, RECORDED, PollInput, polls_record
from stores.tests.factories import StoreFactory, organization_of

# MONITOR_STALE_AFTER_MINUTES, the default.
STALE_AFTER = dt.timedelta(minutes=120)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

T0 = dt.datetime(2024, 1, 10, tzinfo=dt.timezone.utc)
THREADS = 8
POLLS_PER_THREAD_AND_STORE = 60


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (row locks under concurrent writers); the database is {connection.vendor}")


def poll_at(j: int) -> tuple[dt.datetime, str]:
    """The j-th instant of the interleaved sequence and its status: status
    runs of 7, and a gap of STALE_AFTER every 40 polls."""
    at = T0 + dt.timedelta(minutes=j) + (j // 40) * STALE_AFTER
    return at, PollStatus.ACTIVE if (j // 7) % 2 == 0 else PollStatus.INACTIVE


def expected_spans(recorded: list[tuple[dt.datetime, str]]) -> list[tuple]:
    """The spans a one-at-a-time replay of the recorded polls gives."""
    spans: list[list] = []
    for at, status in sorted(recorded):
        if spans and spans[-1][0] == status and at - spans[-1][2] < STALE_AFTER:
            spans[-1][2] = at
            spans[-1][3] += 1
        else:
            spans.append([status, at, at, 1])
    return [tuple(span) for span in spans]


def run_threads(
    batches_per_thread: list[list[list[PollInput]]], device_store: Store | None = None
) -> list[tuple[PollInput, object]]:
    """Each thread records its batches in turn: with the scope of every store,
    or as the device of `device_store` (stores=None: the device's own path)."""
    barrier = threading.Barrier(len(batches_per_thread))
    results: list[tuple[PollInput, object]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(batches: list[list[PollInput]]) -> None:
        try:
            barrier.wait(timeout=30)
            for batch in batches:
                if device_store is None:
                    outcomes = polls_record(polls=batch, stores=Store.objects.all())
                else:
                    outcomes = polls_record(polls=batch, stores=None, device_store=device_store)
                with lock:
                    results.extend(zip(batch, outcomes))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(batches,)) for batches in batches_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    assert not errors, errors
    return results


def in_batches(polls: list[PollInput], rng: random.Random) -> list[list[PollInput]]:
    batches, i = [], 0
    while i < len(polls):
        size = rng.randint(1, 4)
        batches.append(polls[i : i + size])
        i += size
    return batches


def assert_consistent(store: Store, results: list[tuple[PollInput, object]]) -> None:
    mine = [(poll, outcome) for poll, outcome in results if poll.store_id == store.store_id]
    outcomes = Counter(outcome for _, outcome in mine)
    # Unique timestamps: a poll is recorded or refused as older, nothing else.
    assert set(outcomes) <= {RECORDED, OLDER_THAN_LATEST}
    recorded = [(poll.at, poll.status) for poll, outcome in mine if outcome == RECORDED]
    assert recorded

    spans = list(
        StatusSpan.objects.filter(store=store)
        .order_by("first_poll_at")
        .values_list("status", "first_poll_at", "last_poll_at", "poll_count")
    )
    assert sum(span[3] for span in spans) == outcomes[RECORDED] == len(recorded)
    for status, first, last, count in spans:
        assert first <= last
        assert count >= 1
    for before, after in zip(spans, spans[1:]):
        assert before[2] < after[1], "spans overlap or are out of order"
        # Consecutive spans differ in status, or a stale gap separates them.
        assert before[0] != after[0] or after[1] - before[2] >= STALE_AFTER
    store.refresh_from_db()
    assert store.last_poll_at == max(span[2] for span in spans)
    assert store.last_status == spans[-1][0]
    # Exactly what applying the recorded polls one at a time in time order gives.
    assert spans == expected_spans(recorded)


@pytest.mark.parametrize("as_device", [False, True], ids=["owner", "device"])
def test_concurrent_polls_for_one_store_keep_spans_consistent(as_device):
    store = StoreFactory(store_id="busy")
    rng = random.Random(20240110)
    batches_per_thread = []
    for thread in range(THREADS):
        # Thread t posts the instants t, t + THREADS, t + 2 * THREADS, ...
        polls = [
            PollInput("busy", *poll_at(k * THREADS + thread)) for k in range(POLLS_PER_THREAD_AND_STORE)
        ]
        batches_per_thread.append(in_batches(polls, rng))

    results = run_threads(batches_per_thread, device_store=store if as_device else None)

    assert len(results) == THREADS * POLLS_PER_THREAD_AND_STORE
    assert_consistent(store, results)


def test_concurrent_batches_for_several_stores_do_not_deadlock():
    stores = [StoreFactory(store_id=f"busy-{n}") for n in range(3)]
    rng = random.Random(7)
    batches_per_thread = []
    for thread in range(THREADS):
        polls = [
            PollInput(store.store_id, *poll_at(k * THREADS + thread))
            for k in range(POLLS_PER_THREAD_AND_STORE // 2)
            for store in stores
        ]
        batches = in_batches(polls, rng)
        # Each batch names the stores in a shuffled order: the locks must still be taken in one order.
        for batch in batches:
            rng.shuffle(batch)
            batch.sort(key=lambda poll: poll.at)  # keep each store's polls in time order
            if rng.random() < 0.5:
                batch.reverse()
        batches_per_thread.append(batches)

    results = run_threads(batches_per_thread)

    for store in stores:
        assert_consistent(store, results)


def test_registering_one_new_store_id_at_once_creates_it_once(owner):
    """Both requests find no row to lock and insert; the loser of the unique
    insert registers again and so updates the store instead of failing."""
    from stores.services import store_register

    barrier = threading.Barrier(THREADS)
    created: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            result = store_register(organization=organization_of(owner), store_id="raced", timezone="Europe/Paris")
            with lock:
                created.append(result.created)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(created) == [False] * (THREADS - 1) + [True]
    assert Store.objects.filter(store_id="raced").count() == 1


def test_device_poll_that_waited_for_the_lock_reads_the_span_the_other_transaction_wrote():
    """A device's poll reads its store's row and latest span in one
    statement, locking only the row: when it had to wait for the lock,
    PostgreSQL gives it the row as the other transaction left it but the span
    as it was before (stores.services._device_store_lock). It must read the
    span again, and extend the span the other one opened, not open another."""
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    store = StoreFactory(store_id="waits")
    polls_record(polls=[PollInput("waits", T0, PollStatus.ACTIVE)], stores=None, device_store=store)
    holding, waiting = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    statements: list[str] = []
    outcomes: list[object] = []

    def first() -> None:
        try:
            with transaction.atomic():
                # Opens an inactive span, and keeps the store's row locked for a while.
                outcomes.extend(polls_record(polls=[PollInput("waits", T0 + dt.timedelta(minutes=1), PollStatus.INACTIVE)], stores=None, device_store=store))
                holding.set()
                waiting.wait(timeout=30)
                time.sleep(0.5)  # the other is blocked on the row's lock by now
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            holding.wait(timeout=30)
            with CaptureQueriesContext(connection) as queries:
                waiting.set()
                outcomes.extend(polls_record(polls=[PollInput("waits", T0 + dt.timedelta(minutes=2), PollStatus.INACTIVE)], stores=None, device_store=store))
            statements.extend(query["sql"] for query in queries.captured_queries)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert outcomes == [RECORDED, RECORDED]
    # The lock and read, the span read again, the write.
    assert len([sql for sql in statements if sql not in ("BEGIN", "COMMIT")]) == 3
    spans = list(StatusSpan.objects.filter(store=store).order_by("first_poll_at").values_list("status", "first_poll_at", "last_poll_at", "poll_count"))
    assert spans == [
        (PollStatus.ACTIVE, T0, T0, 1),
        (PollStatus.INACTIVE, T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=2), 2),
    ]
