"""Store registration, poll recording into status spans, and span pruning (stores/services.py)."""
import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Role
from accounts.secrets import secret_hash, secret_matches
from stores.access import store_role
from stores.hours import HoursInput
from stores.models import DEFAULT_TIMEZONE, BusinessHours, PollStatus, Store, StatusSpan
from stores.services import (
    CONFLICTING_STATUS,
    OLDER_THAN_LATEST,
    OTHER_STORE,
    RECORDED,
    REPEAT,
    UNKNOWN_STORE,
    PollInput,
    StoreIdTaken,
    polls_record,
    spans_prune,
    store_create,
    store_register,
    store_rotate_device_key,
)
from stores.tests.factories import BusinessHoursFactory, StatusSpanFactory, StoreFactory, organization_of

# MONITOR_STALE_AFTER_MINUTES, the default.
STALE_AFTER = dt.timedelta(minutes=120)

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
ACTIVE = PollStatus.ACTIVE
INACTIVE = PollStatus.INACTIVE


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def hours_of(store: Store) -> list[tuple]:
    return list(
        BusinessHours.objects.filter(store=store)
        .order_by("day_of_week", "start_time_local")
        .values_list("day_of_week", "start_time_local", "end_time_local", "closed")
    )


def spans_of(store: Store) -> list[tuple]:
    return list(
        StatusSpan.objects.filter(store=store)
        .order_by("first_poll_at")
        .values_list("status", "first_poll_at", "last_poll_at", "poll_count")
    )


def record(store: Store, *polls: tuple[dt.datetime, str], scope=None, device_store=None):
    """Record polls (at, status) for one store, as a member of its organization would."""
    stores = scope if scope is not None else Store.objects.filter(organization=store.organization)
    return polls_record(
        polls=[PollInput(store.store_id, at, status) for at, status in polls],
        stores=stores,
        device_store=device_store,
    )


# --------------------------------------------------------------------------
# store_register
# --------------------------------------------------------------------------

WEEK = [
    HoursInput(0, dt.time(9), dt.time(17)),
    HoursInput(1, dt.time(9), dt.time(12)),
    HoursInput(1, dt.time(13), dt.time(0)),  # 13:00-24:00
    HoursInput(5, closed=True),
    HoursInput(6, dt.time(22), dt.time(2)),  # past midnight
]


def test_register_creates_store_with_week_and_device_key(owner):
    result = store_register(organization=organization_of(owner), store_id="s-1", timezone="Asia/Kolkata", week=WEEK)

    assert result.created is True
    assert result.device_key
    store = Store.objects.get(store_id="s-1")
    assert result.store.pk == store.pk
    assert store.organization == organization_of(owner)
    assert store.timezone == "Asia/Kolkata"
    # Only the key's hash is stored.
    assert store.device_key_hash == secret_hash(result.device_key)
    assert result.device_key not in store.device_key_hash
    assert secret_matches(result.device_key, store.device_key_hash)
    assert store.last_poll_at is None and store.last_status == ""
    assert hours_of(store) == [
        (0, dt.time(9), dt.time(17), False),
        (1, dt.time(9), dt.time(12), False),
        (1, dt.time(13), dt.time(0), False),
        (5, None, None, True),
        (6, dt.time(22), dt.time(2), False),
    ]


def test_register_default_timezone_and_no_hours(owner):
    result = store_register(organization=organization_of(owner), store_id="s-1")
    assert result.created
    assert result.store.timezone == DEFAULT_TIMEZONE == "America/Chicago"
    assert hours_of(result.store) == []


def test_device_keys_differ_per_store(owner):
    a = store_register(organization=organization_of(owner), store_id="a")
    b = store_register(organization=organization_of(owner), store_id="b")
    assert a.device_key != b.device_key
    assert a.store.device_key_hash != b.store.device_key_hash


def test_register_update_returns_no_device_key_and_keeps_hash(owner):
    first = store_register(organization=organization_of(owner), store_id="s-1", timezone="Asia/Kolkata")
    second = store_register(organization=organization_of(owner), store_id="s-1", timezone="Europe/Berlin")

    assert second.created is False
    assert second.device_key is None
    assert second.store.pk == first.store.pk
    store = Store.objects.get(store_id="s-1")
    assert store.timezone == "Europe/Berlin"
    assert store.device_key_hash == secret_hash(first.device_key)
    assert Store.objects.count() == 1


def test_register_update_without_timezone_keeps_it(owner):
    store_register(organization=organization_of(owner), store_id="s-1", timezone="Asia/Kolkata")
    store_register(organization=organization_of(owner), store_id="s-1", week=[HoursInput(2, dt.time(8), dt.time(9))])
    assert Store.objects.get(store_id="s-1").timezone == "Asia/Kolkata"


def test_week_replaces_the_whole_schedule(owner):
    store_register(organization=organization_of(owner), store_id="s-1", week=WEEK)
    result = store_register(organization=organization_of(owner), store_id="s-1", week=[HoursInput(3, dt.time(10), dt.time(11))])
    assert hours_of(result.store) == [(3, dt.time(10), dt.time(11), False)]


def test_empty_week_makes_the_store_open_all_week(owner):
    store_register(organization=organization_of(owner), store_id="s-1", week=WEEK)
    result = store_register(organization=organization_of(owner), store_id="s-1", week=[])
    assert hours_of(result.store) == []


def test_day_replaces_only_that_weekday(owner):
    store_register(organization=organization_of(owner), store_id="s-1", week=WEEK)
    result = store_register(organization=organization_of(owner), store_id="s-1", day=HoursInput(1, dt.time(7), dt.time(8)))
    assert hours_of(result.store) == [
        (0, dt.time(9), dt.time(17), False),
        (1, dt.time(7), dt.time(8), False),
        (5, None, None, True),
        (6, dt.time(22), dt.time(2), False),
    ]
    # A closed day can be reopened one day at a time.
    store_register(organization=organization_of(owner), store_id="s-1", day=HoursInput(5, dt.time(10), dt.time(14)))
    assert (5, dt.time(10), dt.time(14), False) in hours_of(result.store)
    assert (5, None, None, True) not in hours_of(result.store)


def test_day_on_create(owner):
    result = store_register(organization=organization_of(owner), store_id="s-1", day=HoursInput(4, dt.time(9), dt.time(17)))
    assert result.created
    assert hours_of(result.store) == [(4, dt.time(9), dt.time(17), False)]


def test_closed_entry_drops_times(owner):
    result = store_register(organization=organization_of(owner), store_id="s-1", week=[HoursInput(2, dt.time(9), dt.time(10), closed=True)])
    assert hours_of(result.store) == [(2, None, None, True)]


def test_week_and_day_together_are_refused(owner):
    with pytest.raises(ValueError):
        store_register(organization=organization_of(owner), store_id="s-1", week=WEEK, day=HoursInput(1, dt.time(1), dt.time(2)))
    assert not Store.objects.exists()


def test_another_owners_store_id_is_taken(owner, other_owner):
    # Owners are staff (create_owner makes them so): being staff is not being allowed.
    assert other_owner.is_staff and not other_owner.is_superuser
    store_register(organization=organization_of(owner), store_id="s-1", timezone="Asia/Kolkata", week=WEEK)
    with pytest.raises(StoreIdTaken):
        store_register(organization=organization_of(other_owner), store_id="s-1", timezone="Europe/Berlin", week=[])
    store = Store.objects.get(store_id="s-1")
    assert store.organization == organization_of(owner)
    assert store.timezone == "Asia/Kolkata"
    assert len(hours_of(store)) == len(WEEK)


def test_superuser_may_update_any_store_which_keeps_its_organization(owner, superuser):
    """The superuser is admin over every store (stores.access), and updates a
    store in its own organization, as the API does (stores.api_views.register)."""
    store_register(organization=organization_of(owner), store_id="s-1", timezone="Asia/Kolkata")
    existing = Store.objects.get(store_id="s-1")
    assert store_role(superuser, existing) == Role.ADMIN
    result = store_register(organization=existing.organization, store_id="s-1", timezone="Europe/Berlin", week=[HoursInput(0, closed=True)])
    assert result.created is False and result.device_key is None
    store = Store.objects.get(store_id="s-1")
    assert store.organization == organization_of(owner)
    assert store.timezone == "Europe/Berlin"
    assert hours_of(store) == [(0, None, None, True)]


def test_rotate_device_key(owner):
    result = store_register(organization=organization_of(owner), store_id="s-1")
    new_key = store_rotate_device_key(store=result.store)
    store = Store.objects.get(pk=result.store.pk)
    assert new_key != result.device_key
    assert store.device_key_hash == secret_hash(new_key)
    assert not secret_matches(result.device_key, store.device_key_hash)


# --------------------------------------------------------------------------
# polls_record: span rules
# --------------------------------------------------------------------------


@pytest.fixture
def store(owner):
    return StoreFactory(owner=owner, store_id="s-1")


def test_first_poll_opens_a_span(store):
    assert record(store, (T0, ACTIVE)) == [RECORDED]
    assert spans_of(store) == [(ACTIVE, T0, T0, 1)]
    store.refresh_from_db()
    assert store.last_poll_at == T0
    assert store.last_status == ACTIVE


def test_same_status_within_stale_extends_the_span(store):
    record(store, (T0, ACTIVE))
    assert record(store, (T0 + minutes(60), ACTIVE)) == [RECORDED]
    assert record(store, (T0 + minutes(119), ACTIVE)) == [RECORDED]
    assert spans_of(store) == [(ACTIVE, T0, T0 + minutes(119), 3)]
    store.refresh_from_db()
    assert store.last_poll_at == T0 + minutes(119)


def test_gap_just_under_stale_extends(store):
    record(store, (T0, INACTIVE))
    at = T0 + STALE_AFTER - dt.timedelta(microseconds=1)
    record(store, (at, INACTIVE))
    assert spans_of(store) == [(INACTIVE, T0, at, 2)]


@pytest.mark.parametrize("status", [ACTIVE, INACTIVE])
def test_gap_of_stale_or_more_opens_a_new_span(store, status):
    record(store, (T0, status))
    at = T0 + STALE_AFTER
    assert record(store, (at, status)) == [RECORDED]
    later = at + STALE_AFTER + minutes(500)
    assert record(store, (later, status)) == [RECORDED]
    assert spans_of(store) == [(status, T0, T0, 1), (status, at, at, 1), (status, later, later, 1)]


def test_status_change_opens_a_new_span(store):
    record(store, (T0, ACTIVE))
    record(store, (T0 + minutes(1), ACTIVE))
    assert record(store, (T0 + minutes(2), INACTIVE)) == [RECORDED]
    assert record(store, (T0 + minutes(3), INACTIVE)) == [RECORDED]
    assert record(store, (T0 + minutes(4), ACTIVE)) == [RECORDED]
    assert spans_of(store) == [
        (ACTIVE, T0, T0 + minutes(1), 2),
        (INACTIVE, T0 + minutes(2), T0 + minutes(3), 2),
        (ACTIVE, T0 + minutes(4), T0 + minutes(4), 1),
    ]
    store.refresh_from_db()
    assert (store.last_poll_at, store.last_status) == (T0 + minutes(4), ACTIVE)


def test_repeat_of_latest_poll_is_200_and_changes_nothing(store):
    record(store, (T0, ACTIVE))
    assert record(store, (T0, ACTIVE)) == [REPEAT]
    assert REPEAT.http_status == 200
    assert spans_of(store) == [(ACTIVE, T0, T0, 1)]


def test_older_than_latest_is_409(store):
    record(store, (T0, ACTIVE), (T0 + minutes(10), ACTIVE))
    outcome = record(store, (T0 + minutes(5), ACTIVE))
    assert outcome == [OLDER_THAN_LATEST]
    assert OLDER_THAN_LATEST.http_status == 409
    # Even a poll equal to an earlier (not the latest) poll is older.
    assert record(store, (T0, ACTIVE)) == [OLDER_THAN_LATEST]
    assert spans_of(store) == [(ACTIVE, T0, T0 + minutes(10), 2)]


def test_same_timestamp_other_status_is_409(store):
    record(store, (T0, ACTIVE))
    assert record(store, (T0, INACTIVE)) == [CONFLICTING_STATUS]
    assert CONFLICTING_STATUS.http_status == 409
    assert spans_of(store) == [(ACTIVE, T0, T0, 1)]
    store.refresh_from_db()
    assert store.last_status == ACTIVE


def test_unknown_store_is_404(owner):
    outcome = polls_record(polls=[PollInput("nope", T0, ACTIVE)], stores=Store.objects.all())
    assert outcome == [UNKNOWN_STORE]
    assert UNKNOWN_STORE.http_status == 404
    assert not StatusSpan.objects.exists()


def test_store_outside_the_callers_scope_is_unknown(store, other_owner):
    outcome = polls_record(
        polls=[PollInput(store.store_id, T0, ACTIVE)], stores=Store.objects.visible_to(other_owner)
    )
    assert outcome == [UNKNOWN_STORE]
    assert not StatusSpan.objects.exists()


@pytest.mark.parametrize("scope", ["all stores", None])
def test_device_may_post_only_for_its_store(store, owner, scope):
    other = StoreFactory(owner=owner, store_id="s-2")
    outcomes = polls_record(
        polls=[
            PollInput("s-2", T0, ACTIVE),
            PollInput("s-1", T0, ACTIVE),
            PollInput("missing", T0, ACTIVE),
        ],
        stores=Store.objects.all() if scope else None,
        device_store=store,
    )
    assert outcomes == [OTHER_STORE, RECORDED, OTHER_STORE]
    assert OTHER_STORE.http_status == 403
    assert spans_of(store) == [(ACTIVE, T0, T0, 1)]
    assert spans_of(other) == []


def test_device_polls_without_a_scope_follow_the_same_rules(store):
    """stores=None (a device's own store, locked by its id) records like a scope does."""
    polls = [PollInput("s-1", T0, ACTIVE), PollInput("s-1", T0 + minutes(1), ACTIVE), PollInput("s-1", T0, ACTIVE)]
    assert polls_record(polls=polls, stores=None, device_store=store) == [RECORDED, RECORDED, OLDER_THAN_LATEST]
    assert spans_of(store) == [(ACTIVE, T0, T0 + minutes(1), 2)]
    store.refresh_from_db()
    assert (store.last_poll_at, store.last_status) == (T0 + minutes(1), ACTIVE)


def test_device_store_deleted_after_authentication_is_unknown(store):
    device_store = Store.objects.get(pk=store.pk)
    store.delete()
    assert polls_record(polls=[PollInput("s-1", T0, ACTIVE)], stores=None, device_store=device_store) == [
        UNKNOWN_STORE
    ]


def test_device_whose_key_changed_after_authentication_records_nothing(store):
    from stores.services import DeviceKeyInvalid

    device_store = Store.objects.get(pk=store.pk)
    store_rotate_device_key(store=store)
    with pytest.raises(DeviceKeyInvalid):
        polls_record(polls=[PollInput("s-1", T0, ACTIVE)], stores=None, device_store=device_store)
    assert spans_of(store) == []
    store.refresh_from_db()
    assert store.last_poll_at is None


def _random_polls(rng, store_id: str, count: int) -> list[PollInput]:
    """Polls in mostly rising time, with what the span rule must refuse or
    tell apart: repeats, conflicts, older polls, stale gaps, status changes."""
    polls: list[PollInput] = []
    at, status = T0, ACTIVE
    for _ in range(count):
        kind = rng.random()
        if polls and kind < 0.08:
            polls.append(polls[-1])  # a repeat
            continue
        if polls and kind < 0.12:
            last = polls[-1]
            polls.append(PollInput(store_id, last.at, INACTIVE if last.status == ACTIVE else ACTIVE))  # a conflict
            continue
        if polls and kind < 0.17:
            polls.append(PollInput(store_id, polls[-1].at - minutes(rng.randint(1, 90)), status))  # older
            continue
        at += STALE_AFTER if kind < 0.22 else minutes(rng.choice([1, 30, 119]))
        if rng.random() < 0.25:
            status = INACTIVE if status == ACTIVE else ACTIVE
        polls.append(PollInput(store_id, at, status))
    return polls


@pytest.mark.parametrize("seed", range(4))
def test_device_path_gives_what_the_batch_path_gives(owner, seed):
    """The device's path (stores=None: its row and latest span in one
    statement, its writes in one) and the batch path, poll by poll and in
    batches, answer the same and leave the same spans and latest poll."""
    import random

    from stores.signals import store_recovered

    rng = random.Random(seed)
    ways = ["device, one by one", "device, in lists", "scope, one by one", "scope, in batches"]
    stores = {way: StoreFactory(owner=owner, store_id=f"way-{index}") for index, way in enumerate(ways)}
    polls = _random_polls(rng, "x", 150)
    cuts = sorted(rng.sample(range(1, len(polls)), 20))
    way_of = {store.pk: way for way, store in stores.items()}
    signalled: list[tuple[str, dt.datetime]] = []

    def heard(sender, recovered: dict, **kwargs) -> None:
        signalled.extend((way_of[pk], at) for pk, ends in recovered.items() for at in ends)

    store_recovered.connect(heard)
    try:
        outcomes = {}
        for way, store in stores.items():
            mine = [PollInput(store.store_id, poll.at, poll.status) for poll in polls]
            groups = [mine[a:b] for a, b in zip([0, *cuts], [*cuts, len(mine)])] if "in " in way else [[poll] for poll in mine]
            device_store = Store.objects.get(pk=store.pk) if way.startswith("device") else None
            scope = None if device_store is not None else Store.objects.filter(organization=store.organization)
            outcomes[way] = [
                outcome for group in groups for outcome in polls_record(polls=group, stores=scope, device_store=device_store)
            ]
    finally:
        store_recovered.disconnect(heard)
    first = ways[0]
    assert set(outcomes[first]) >= {RECORDED, REPEAT, OLDER_THAN_LATEST}
    for way, store in stores.items():
        assert outcomes[way] == outcomes[first], way
        assert spans_of(store) == spans_of(stores[first]), way
        store.refresh_from_db()
        reference = Store.objects.get(pk=stores[first].pk)
        assert (store.last_poll_at, store.last_status) == (reference.last_poll_at, reference.last_status), way
    # The same run ends signalled each way, in lists or poll by poll (alerts relies on them).
    def heard_by(way: str) -> list[dt.datetime]:
        return [at for heard_way, at in signalled if heard_way == way]

    assert heard_by(first)
    for way in ways[1:]:
        assert heard_by(way) == heard_by(first), way


def test_a_device_poll_is_two_statements_in_its_transaction(store, django_assert_num_queries):
    """The store's row locked and read with its latest span, then the span's
    write and the store's in one statement (two on SQLite, which has no
    data-modifying CTEs); here within the test's transaction, so a savepoint
    and its release around them."""
    from django.db import connection

    writes = 1 if connection.vendor == "postgresql" else 2
    device_store = Store.objects.get(pk=store.pk)
    for at, status in ((T0, ACTIVE), (T0 + minutes(1), ACTIVE), (T0 + minutes(2), INACTIVE)):
        with django_assert_num_queries(3 + writes):
            assert polls_record(polls=[PollInput("s-1", at, status)], stores=None, device_store=device_store) == [RECORDED]
    # Refused polls write nothing.
    with django_assert_num_queries(3):
        assert polls_record(polls=[PollInput("s-1", T0, ACTIVE)], stores=None, device_store=device_store) == [OLDER_THAN_LATEST]
    assert spans_of(store) == [(ACTIVE, T0, T0 + minutes(1), 2), (INACTIVE, T0 + minutes(2), T0 + minutes(2), 1)]


def test_a_device_list_opening_several_spans_is_written_in_bulk(store):
    device_store = Store.objects.get(pk=store.pk)
    record(store, (T0, ACTIVE), device_store=device_store)
    polls = [(T0 + minutes(1), ACTIVE), (T0 + minutes(2), INACTIVE), (T0 + minutes(3), ACTIVE), (T0 + minutes(3), ACTIVE)]
    assert polls_record(polls=[PollInput("s-1", at, status) for at, status in polls], stores=None, device_store=device_store) == [
        RECORDED,
        RECORDED,
        RECORDED,
        REPEAT,
    ]
    assert spans_of(store) == [
        (ACTIVE, T0, T0 + minutes(1), 2),
        (INACTIVE, T0 + minutes(2), T0 + minutes(2), 1),
        (ACTIVE, T0 + minutes(3), T0 + minutes(3), 1),
    ]
    store.refresh_from_db()
    assert (store.last_poll_at, store.last_status) == (T0 + minutes(3), ACTIVE)


def test_no_scope_needs_a_device_store():
    with pytest.raises(ValueError):
        polls_record(polls=[PollInput("s-1", T0, ACTIVE)], stores=None)


def test_batch_is_applied_in_order(store):
    outcomes = record(
        store,
        (T0, ACTIVE),
        (T0 + minutes(1), ACTIVE),
        (T0 + minutes(2), INACTIVE),
        (T0 + minutes(1), ACTIVE),  # older than the latest, by then
        (T0 + minutes(2), INACTIVE),  # repeat of the latest
        (T0 + minutes(2), ACTIVE),  # same instant, other status
        (T0 + minutes(3), INACTIVE),
        (T0 + minutes(3) + STALE_AFTER, INACTIVE),  # gap: a new span
        (T0 + minutes(4) + STALE_AFTER, ACTIVE),
    )
    assert outcomes == [
        RECORDED,
        RECORDED,
        RECORDED,
        OLDER_THAN_LATEST,
        REPEAT,
        CONFLICTING_STATUS,
        RECORDED,
        RECORDED,
        RECORDED,
    ]
    gap_at = T0 + minutes(3) + STALE_AFTER
    assert spans_of(store) == [
        (ACTIVE, T0, T0 + minutes(1), 2),
        (INACTIVE, T0 + minutes(2), T0 + minutes(3), 2),
        (INACTIVE, gap_at, gap_at, 1),
        (ACTIVE, gap_at + minutes(1), gap_at + minutes(1), 1),
    ]
    store.refresh_from_db()
    assert (store.last_poll_at, store.last_status) == (gap_at + minutes(1), ACTIVE)


def test_batch_extends_the_stored_open_span_then_opens_new_ones(store):
    record(store, (T0, ACTIVE), (T0 + minutes(1), INACTIVE))
    record(
        store,
        (T0 + minutes(2), INACTIVE),
        (T0 + minutes(3), INACTIVE),
        (T0 + minutes(4), ACTIVE),
        (T0 + minutes(5), ACTIVE),
    )
    assert spans_of(store) == [
        (ACTIVE, T0, T0, 1),
        (INACTIVE, T0 + minutes(1), T0 + minutes(3), 3),
        (ACTIVE, T0 + minutes(4), T0 + minutes(5), 2),
    ]


def test_batch_for_several_stores(owner, store):
    second = StoreFactory(owner=owner, store_id="s-2")
    foreign = StoreFactory(store_id="s-3")  # another organization's
    outcomes = polls_record(
        polls=[
            PollInput("s-2", T0, INACTIVE),
            PollInput("s-1", T0, ACTIVE),
            PollInput("s-3", T0, ACTIVE),
            PollInput("s-2", T0 + minutes(1), INACTIVE),
            PollInput("s-1", T0 + minutes(1), INACTIVE),
        ],
        stores=Store.objects.visible_to(owner),
    )
    assert outcomes == [RECORDED, RECORDED, UNKNOWN_STORE, RECORDED, RECORDED]
    assert spans_of(store) == [(ACTIVE, T0, T0, 1), (INACTIVE, T0 + minutes(1), T0 + minutes(1), 1)]
    assert spans_of(second) == [(INACTIVE, T0, T0 + minutes(1), 2)]
    assert spans_of(foreign) == []


@pytest.mark.parametrize("several", [False, True], ids=["one store", "several stores"])
def test_the_open_span_is_the_one_with_the_latest_start_whatever_the_row_order(owner, store, several):
    """The open span is read with one statement for a single store (a device's
    poll) and another for several: both pick the latest start, not the latest row."""
    second = StoreFactory(owner=owner, store_id="s-2")
    for each in (store, second):
        # The later span is written first, so it has the lower primary key.
        StatusSpanFactory(store=each, status=ACTIVE, first_poll_at=T0 + minutes(10))
        StatusSpanFactory(store=each, status=INACTIVE, first_poll_at=T0)
        Store.objects.filter(pk=each.pk).update(last_poll_at=T0 + minutes(10), last_status=ACTIVE)
    polls = [PollInput("s-1", T0 + minutes(20), ACTIVE)]
    if several:
        polls.append(PollInput("s-2", T0 + minutes(20), ACTIVE))
    assert polls_record(polls=polls, stores=Store.objects.visible_to(owner)) == [RECORDED] * len(polls)
    assert spans_of(store) == [(INACTIVE, T0, T0, 1), (ACTIVE, T0 + minutes(10), T0 + minutes(20), 2)]
    last_poll, count = (T0 + minutes(20), 2) if several else (T0 + minutes(10), 1)
    assert spans_of(second)[-1] == (ACTIVE, T0 + minutes(10), last_poll, count)


def test_empty_batch(store):
    assert polls_record(polls=[], stores=Store.objects.all()) == []


def test_poll_after_a_prune_extends_the_kept_latest_span(store):
    record(store, (T0, INACTIVE), (T0 + minutes(1), ACTIVE))
    # Far past both spans' last polls: only the latest span (the store's status) is kept.
    assert spans_prune(older_than=T0 + dt.timedelta(days=365)) == 1
    assert spans_of(store) == [(ACTIVE, T0 + minutes(1), T0 + minutes(1), 1)]
    assert record(store, (T0 + minutes(5), ACTIVE)) == [RECORDED]
    assert spans_of(store) == [(ACTIVE, T0 + minutes(1), T0 + minutes(5), 2)]
    # The latest poll is still what later polls are checked against.
    assert record(store, (T0, ACTIVE)) == [OLDER_THAN_LATEST]


def _alternating_batch(store: Store, size: int, start: dt.datetime) -> list[PollInput]:
    # A status change every 50 polls: both extends and new spans, within one write batch.
    return [
        PollInput(store.store_id, start + dt.timedelta(seconds=30 * i), ACTIVE if (i // 50) % 2 == 0 else INACTIVE)
        for i in range(size)
    ]


@pytest.mark.parametrize("size", [1, 10, 100, 2000])
def test_number_of_queries_does_not_grow_with_batch_size(store, owner, django_assert_max_num_queries, size):
    other = StoreFactory(owner=owner, store_id="s-2")
    # Both stores have an open span already, so the batch extends one and opens others.
    record(store, (T0 - minutes(1), ACTIVE))
    record(other, (T0 - minutes(1), INACTIVE))
    polls = _alternating_batch(store, size, T0) + _alternating_batch(other, size, T0)
    # Savepoint, lock the stores, read the open spans, update spans, create
    # spans, update stores, release the savepoint; and, the inactive store's
    # first poll being active (a run ended, whatever follows), the incident
    # rule over its runs (RECOVERY_QUERIES), as many for any number of runs and stores.
    visible = Store.objects.visible_to(owner)  # reads the owner's memberships
    with django_assert_max_num_queries(7 + RECOVERY_QUERIES):
        outcomes = polls_record(polls=polls, stores=visible)
    assert outcomes == [RECORDED] * (2 * size)
    assert sum(StatusSpan.objects.filter(store=store).values_list("poll_count", flat=True)) == size + 1
    store.refresh_from_db()
    assert store.last_poll_at == polls[size - 1].at


# Zones, grace periods and organizations, the stores' hours, spans before and
# inside the week (two on SQLite), the closures' rows, the open incidents and
# the flags cleared (only for stores flagged with one), the incidents known,
# and the ended incidents recorded (savepoint, insert, release): alerts'
# incidents_resolve_recovered for the stores a batch brings back up, whatever
# their number.
RECOVERY_QUERIES = 11


def test_queries_for_stores_coming_back_up_do_not_grow_with_their_number(owner, django_assert_max_num_queries):
    """50 stores inactive, then each one's active poll in one batch: as many queries as for one."""
    stores = [StoreFactory(owner=owner, store_id=f"down-{n}") for n in range(50)]
    for down in stores:
        record(down, (T0 - minutes(1), INACTIVE))
    polls = [PollInput(down.store_id, T0, ACTIVE) for down in stores]
    # Savepoint, lock, open spans, update spans, create spans, update stores, release.
    visible = Store.objects.visible_to(owner)  # reads the owner's memberships
    with django_assert_max_num_queries(7 + RECOVERY_QUERIES):
        outcomes = polls_record(polls=polls, stores=visible)
    assert outcomes == [RECORDED] * 50


def test_queries_for_a_batch_of_refusals_are_constant(store, owner, django_assert_max_num_queries):
    record(store, (T0, ACTIVE))
    polls = [PollInput(store.store_id, T0 - minutes(i + 1), ACTIVE) for i in range(1000)]
    polls += [PollInput(f"unknown-{i}", T0, ACTIVE) for i in range(1000)]
    # Savepoint, lock the stores, read the open spans, release: nothing to write.
    visible = Store.objects.visible_to(owner)  # reads the owner's memberships
    with django_assert_max_num_queries(4):
        outcomes = polls_record(polls=polls, stores=visible)
    assert outcomes == [OLDER_THAN_LATEST] * 1000 + [UNKNOWN_STORE] * 1000


# --------------------------------------------------------------------------
# spans_prune
# --------------------------------------------------------------------------


def test_spans_prune_deletes_spans_that_ended_before_the_cutoff(store):
    other = StoreFactory(store_id="s-2")
    old = StatusSpanFactory(store=store, first_poll_at=T0 - minutes(600), last_poll_at=T0 - minutes(500))
    older = StatusSpanFactory(store=store, first_poll_at=T0 - minutes(900), last_poll_at=T0 - minutes(800))
    ends_at_cutoff = StatusSpanFactory(store=store, first_poll_at=T0 - minutes(400), last_poll_at=T0)
    # Started before the cutoff, still going after it: kept.
    straddling = StatusSpanFactory(store=other, first_poll_at=T0 - minutes(400), last_poll_at=T0 + minutes(1))
    other_old = StatusSpanFactory(store=other, first_poll_at=T0 - minutes(900), last_poll_at=T0 - minutes(800))
    Store.objects.filter(pk=store.pk).update(last_poll_at=T0, last_status=ACTIVE)
    Store.objects.filter(pk=other.pk).update(last_poll_at=T0 + minutes(1), last_status=ACTIVE)

    assert spans_prune(older_than=T0) == 3

    remaining = set(StatusSpan.objects.values_list("pk", flat=True))
    assert remaining == {ends_at_cutoff.pk, straddling.pk}
    assert not {old.pk, older.pk, other_old.pk} & remaining
    # Stores and their latest poll stay.
    store.refresh_from_db()
    assert store.last_poll_at == T0
    assert Store.objects.count() == 2


def test_spans_prune_keeps_each_stores_latest_span_whatever_its_age(store):
    other = StoreFactory(store_id="s-2")
    record(store, (T0 - minutes(600), ACTIVE), (T0 - minutes(500), INACTIVE), (T0 - minutes(499), INACTIVE))
    polls_record(
        polls=[PollInput(other.store_id, T0 - minutes(300), ACTIVE), PollInput(other.store_id, T0, INACTIVE)],
        stores=Store.objects.all(),
    )

    assert spans_prune(older_than=T0 + dt.timedelta(days=90)) == 2

    assert spans_of(store) == [(INACTIVE, T0 - minutes(500), T0 - minutes(499), 2)]
    assert spans_of(other) == [(INACTIVE, T0, T0, 1)]
    assert spans_prune(older_than=T0 + dt.timedelta(days=90)) == 0


def test_spans_prune_keeps_a_span_that_ends_exactly_at_the_cutoff(store):
    """Only spans ending *before* the cutoff go; this one is not the store's
    latest, so only the comparison keeps it."""
    at_cutoff = StatusSpanFactory(store=store, first_poll_at=T0 - minutes(30), last_poll_at=T0, status=ACTIVE)
    just_before = StatusSpanFactory(
        store=store, first_poll_at=T0 - minutes(90), last_poll_at=T0 - dt.timedelta(microseconds=1), status=INACTIVE
    )
    latest = StatusSpanFactory(store=store, first_poll_at=T0 + minutes(10), last_poll_at=T0 + minutes(20), status=INACTIVE)
    Store.objects.filter(pk=store.pk).update(last_poll_at=T0 + minutes(20), last_status=INACTIVE)

    assert spans_prune(older_than=T0) == 1

    assert set(StatusSpan.objects.values_list("pk", flat=True)) == {at_cutoff.pk, latest.pk}
    assert not StatusSpan.objects.filter(pk=just_before.pk).exists()


def test_spans_prune_with_nothing_to_delete(store):
    StatusSpanFactory(store=store, first_poll_at=T0, last_poll_at=T0)
    assert spans_prune(older_than=T0 - minutes(1)) == 0
    assert StatusSpan.objects.count() == 1


def test_business_hours_rows_are_not_pruned(store):
    BusinessHoursFactory(store=store)
    StatusSpanFactory(store=store, first_poll_at=T0, last_poll_at=T0)
    spans_prune(older_than=T0 + minutes(1))
    assert BusinessHours.objects.filter(store=store).count() == 1


# --------------------------------------------------------------------------
# store_create (used by the admin)
# --------------------------------------------------------------------------


def test_store_create_makes_a_store_with_a_device_key(owner):
    created = store_create(organization=organization_of(owner), store_id="new", timezone="Asia/Tokyo")
    store = Store.objects.get(store_id="new")
    assert created.store == store
    assert (store.organization, store.timezone) == (organization_of(owner), "Asia/Tokyo")
    assert secret_matches(created.device_key, store.device_key_hash)
    assert store_create(organization=organization_of(owner), store_id="plain").store.timezone == DEFAULT_TIMEZONE


def test_store_create_never_updates(owner, other_owner):
    store_create(organization=organization_of(owner), store_id="taken")
    for who in (owner, other_owner):
        with pytest.raises(StoreIdTaken):
            store_create(organization=organization_of(who), store_id="taken", timezone="UTC")
    assert Store.objects.get(store_id="taken").timezone == DEFAULT_TIMEZONE


@pytest.mark.parametrize("store_id", ["", "   ", "x" * 65])
def test_store_create_refuses_bad_ids(owner, store_id):
    with pytest.raises(ValueError):
        store_create(organization=organization_of(owner), store_id=store_id)
    assert not Store.objects.exists()


def test_store_create_refuses_unknown_zones(owner):
    with pytest.raises(ValidationError):
        store_create(organization=organization_of(owner), store_id="new", timezone="Mars/Olympus")
    assert not Store.objects.exists()
