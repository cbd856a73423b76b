"""StoreWeek: each store's hours rows as one text, kept by the database's
triggers (migration 0011) whatever writes the rows; and store_weekly_hours,
which reads it."""
import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction

from core import uptime
from stores.models import BusinessHours, Store, StoreWeek
from stores.selectors import store_weekly_hours
from stores.tests.factories import BusinessHoursFactory, StoreFactory

pytestmark = pytest.mark.django_db

NINE, FIVE = dt.time(9), dt.time(17)


def week_from_rows(store: Store) -> uptime.WeeklyHours:
    """The store's week resolved from its rows themselves, as the engine's rule reads them."""
    return uptime.weekly_hours(
        uptime.HoursEntry(row.day_of_week, row.start_time_local, row.end_time_local, row.closed)
        for row in BusinessHours.objects.filter(store=store)
    )


def stored_rows(store: Store) -> list[str] | None:
    """The rows of the store's StoreWeek text, sorted (None: it has none)."""
    week = StoreWeek.objects.filter(store=store).first()
    return None if week is None else sorted(week.text.split(";"))


def test_a_store_without_hours_rows_has_no_week_and_is_open_all_week():
    store = StoreFactory()
    assert stored_rows(store) is None
    assert store_weekly_hours(store_pks=[store.pk]) == {store.pk: uptime.ALWAYS_OPEN}


def test_inserted_rows_are_joined_into_the_stores_week():
    # Monday 09:00-17:00, Tuesday 09:30-12:00 and 13:00-17:00.25, Sunday closed.
    store = StoreFactory()
    BusinessHoursFactory(store=store, day_of_week=0, start_time_local=NINE, end_time_local=FIVE)
    BusinessHoursFactory(store=store, day_of_week=1, start_time_local=dt.time(13), end_time_local=dt.time(17, 0, 0, 250000))
    BusinessHoursFactory(store=store, day_of_week=1, start_time_local=dt.time(9, 30), end_time_local=dt.time(12))
    BusinessHoursFactory(store=store, day_of_week=6, start_time_local=None, end_time_local=None, closed=True)
    rows = stored_rows(store)
    assert rows is not None and len(rows) == 4
    assert rows[:2] == ["0,09:00:00,17:00:00", "1,09:30:00,12:00:00"]
    # Times as the database writes them: "17:00:00.25" on PostgreSQL, "17:00:00.250000" on SQLite.
    assert rows[2].startswith("1,13:00:00,17:00:00.25")
    assert rows[3] == "6"
    week = store_weekly_hours(store_pks=[store.pk])[store.pk]
    assert week == week_from_rows(store)
    assert week[0] == ((9 * 3600, 17 * 3600),)
    assert week[1] == ((9 * 3600 + 1800, 12 * 3600), (13 * 3600, 17 * 3600))  # the fraction ignored
    assert week[2] == uptime.OPEN_ALL_DAY  # no row: open all day
    assert week[6] == ()  # marked closed


def test_a_day_marked_closed_that_also_has_an_interval_keeps_the_interval_as_the_rule_reads_it():
    # Thursday marked closed and open 10:00 to 10:00 (24 hours from 10:00);
    # Friday 22:00 to 02:00 (overnight), twice over: the same row resolves once.
    store, other = StoreFactory(), StoreFactory()
    BusinessHoursFactory(store=store, day_of_week=3, start_time_local=None, end_time_local=None, closed=True)
    BusinessHoursFactory(store=store, day_of_week=3, start_time_local=dt.time(10), end_time_local=dt.time(10))
    for each in (store, other):
        BusinessHoursFactory(store=each, day_of_week=4, start_time_local=dt.time(22), end_time_local=dt.time(2))
    weeks = store_weekly_hours(store_pks=[store.pk, other.pk])
    assert weeks[store.pk] == week_from_rows(store)
    assert weeks[store.pk][3] == ((10 * 3600, 34 * 3600),)
    assert weeks[store.pk][4] == weeks[other.pk][4] == ((22 * 3600, 26 * 3600),)
    assert weeks[other.pk][3] == uptime.OPEN_ALL_DAY


def test_a_changed_row_rewrites_the_week():
    store = StoreFactory()
    row = BusinessHoursFactory(store=store, day_of_week=2, start_time_local=NINE, end_time_local=FIVE)
    row.start_time_local, row.end_time_local = dt.time(22), dt.time(2)  # Wednesday 22:00 to Thursday 02:00
    row.save()
    assert stored_rows(store) == ["2,22:00:00,02:00:00"]
    assert store_weekly_hours(store_pks=[store.pk])[store.pk][2] == ((22 * 3600, 26 * 3600),)


def test_a_row_moved_to_another_store_rewrites_both_weeks():
    one, two = StoreFactory(), StoreFactory()
    BusinessHoursFactory(store=one, day_of_week=0)
    moved = BusinessHoursFactory(store=one, day_of_week=3)
    BusinessHours.objects.filter(pk=moved.pk).update(store=two)
    assert stored_rows(one) == ["0,09:00:00,17:00:00"]
    assert stored_rows(two) == ["3,09:00:00,17:00:00"]


def test_deleting_the_last_row_removes_the_week():
    store = StoreFactory()
    BusinessHoursFactory(store=store, day_of_week=4)
    BusinessHours.objects.filter(store=store).delete()
    assert stored_rows(store) is None
    assert store_weekly_hours(store_pks=[store.pk])[store.pk] == uptime.ALWAYS_OPEN


def test_a_bulk_insert_and_a_raw_delete_over_many_stores_keep_each_week():
    # As the Loop import writes them: a raw delete, then a bulk insert.
    stores = [StoreFactory() for _ in range(5)]
    for store in stores:
        BusinessHoursFactory(store=store, day_of_week=5)
    rows = BusinessHours.objects.filter(store__in=stores)
    rows._raw_delete(rows.db)
    BusinessHours.objects.bulk_create(
        BusinessHours(store=store, day_of_week=day, start_time_local=NINE, end_time_local=FIVE)
        for index, store in enumerate(stores)
        for day in range(index)
    )
    weeks = store_weekly_hours(store_pks=[store.pk for store in stores])
    for index, store in enumerate(stores):
        assert weeks[store.pk] == week_from_rows(store)
        assert stored_rows(store) == (None if index == 0 else [f"{day},09:00:00,17:00:00" for day in range(index)])


def test_one_statement_over_many_stores_keeps_each_week():
    # 40 stores in one insert: PostgreSQL's trigger then locks all weeks at
    # once rather than each store's (its lock table holds a few dozen a transaction).
    stores = [StoreFactory() for _ in range(40)]
    BusinessHours.objects.bulk_create(
        BusinessHours(store=store, day_of_week=index % 7, start_time_local=NINE, end_time_local=FIVE)
        for index, store in enumerate(stores)
    )
    weeks = store_weekly_hours(store_pks=[store.pk for store in stores])
    for index, store in enumerate(stores):
        assert stored_rows(store) == [f"{index % 7},09:00:00,17:00:00"]
        assert weeks[store.pk] == week_from_rows(store)


def test_deleting_a_store_deletes_its_week():
    store = StoreFactory()
    BusinessHoursFactory(store=store)
    pk = store.pk
    store.delete()
    assert not StoreWeek.objects.filter(store_id=pk).exists()


def test_a_rolled_back_change_leaves_the_week_as_it_was():
    store = StoreFactory()
    BusinessHoursFactory(store=store, day_of_week=0)
    with pytest.raises(RuntimeError), transaction.atomic():
        BusinessHoursFactory(store=store, day_of_week=1)
        raise RuntimeError("rolled back")
    assert stored_rows(store) == ["0,09:00:00,17:00:00"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_transactions_adding_hours_to_one_store_at_once_both_count():
    # Each adds a day in its own transaction, the second while the first has
    # not committed: the second's rewrite waits for the first to commit (the
    # trigger's lock on the store's key) and then sees both rows. Without the
    # lock it would see only its own, and fail on the first's new week row.
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (concurrent writers); the database is {connection.vendor}")
    store = StoreFactory()
    first_inserted, second_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with transaction.atomic():
            BusinessHours.objects.create(store_id=store.pk, day_of_week=0, start_time_local=NINE, end_time_local=FIVE)
            first_inserted.set()
            second_started.wait(10)
            time.sleep(0.5)  # the second's insert reaches its trigger meanwhile

    def second() -> None:
        first_inserted.wait(10)
        second_started.set()
        with transaction.atomic():
            BusinessHours.objects.create(store_id=store.pk, day_of_week=1, start_time_local=NINE, end_time_local=FIVE)

    def run(work) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert stored_rows(store) == ["0,09:00:00,17:00:00", "1,09:00:00,17:00:00"]
