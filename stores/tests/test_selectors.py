"""The bulk reads behind reports and the dashboard (stores/selectors.py), on every database."""
import datetime as dt

import pytest

from core import instants
from core import uptime
from core.uptime import DAY_SECONDS, Span
from stores.models import PollStatus
from core.uptime_batch import span_columns
from stores.selectors import store_batch_inputs, store_span_columns, store_spans, store_uptime_inputs, store_weekly_hours
from stores.tests.factories import BusinessHoursFactory, StatusSpanFactory, StoreFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 3, tzinfo=UTC)
END = dt.datetime(2024, 1, 10, tzinfo=UTC)


def micros(instant: dt.datetime) -> int:
    return instants.to_micros(instant)


def test_weekly_hours_of_each_store():
    plain, mixed, silent = StoreFactory(), StoreFactory(), StoreFactory()
    BusinessHoursFactory(store=plain, day_of_week=0, start_time_local=dt.time(9), end_time_local=dt.time(17))
    BusinessHoursFactory(store=plain, day_of_week=0, start_time_local=dt.time(6), end_time_local=dt.time(8, 30, 15))
    BusinessHoursFactory(store=plain, day_of_week=4, start_time_local=dt.time(22), end_time_local=dt.time(2))
    BusinessHoursFactory(store=plain, day_of_week=6, start_time_local=None, end_time_local=None, closed=True)
    # A day both marked closed and given hours keeps its hours (uptime.weekly_hours).
    BusinessHoursFactory(store=mixed, day_of_week=2, start_time_local=None, end_time_local=None, closed=True)
    BusinessHoursFactory(store=mixed, day_of_week=2, start_time_local=dt.time(10), end_time_local=dt.time(11))
    BusinessHoursFactory(store=mixed, day_of_week=3, start_time_local=None, end_time_local=None, closed=True)

    weeks = store_weekly_hours(store_pks=[plain.pk, mixed.pk, silent.pk])

    all_day = ((0, DAY_SECONDS),)
    assert weeks[plain.pk] == (
        ((6 * 3600, 8 * 3600 + 30 * 60 + 15), (9 * 3600, 17 * 3600)),
        all_day,
        all_day,
        all_day,
        ((22 * 3600, DAY_SECONDS + 2 * 3600),),
        all_day,
        (),
    )
    assert weeks[mixed.pk] == (all_day, all_day, ((36000, 39600),), (), all_day, all_day, all_day)
    assert weeks[silent.pk] == uptime.ALWAYS_OPEN


def test_spans_are_the_last_before_the_range_then_those_inside_it_in_order():
    store, other = StoreFactory(), StoreFactory()
    at = [START - dt.timedelta(days=2), START - dt.timedelta(hours=1), START, START + dt.timedelta(days=3), END]
    for n, first in enumerate(at):
        status = PollStatus.ACTIVE if n % 2 else PollStatus.INACTIVE
        StatusSpanFactory(store=store, status=status, first_poll_at=first, last_poll_at=first + dt.timedelta(minutes=n))
    StatusSpanFactory(store=other, first_poll_at=START + dt.timedelta(seconds=1, microseconds=7))

    spans = store_spans(store_pks=[store.pk, other.pk], start=START, end=END)

    assert spans[store.pk] == [
        Span(True, micros(at[1]), micros(at[1]) + 1 * instants.MINUTE),  # the latest before START only
        Span(False, micros(at[2]), micros(at[2]) + 2 * instants.MINUTE),
        Span(True, micros(at[3]), micros(at[3]) + 3 * instants.MINUTE),
        # at[4] starts at END: outside [START, END)
    ]
    only = micros(START) + instants.SECOND + 7
    assert spans[other.pk] == [Span(True, only, only)]


def test_spans_to_the_microsecond_and_stores_with_none_in_the_range():
    """Instants arrive exact (PostgreSQL: binary integers since 2000); a store
    whose only span starts before the range gets that one; a store whose
    spans all start at or after the end gets none; a store without any too."""
    before_only, after_only, fine, empty = StoreFactory(), StoreFactory(), StoreFactory(), StoreFactory()
    old = START - dt.timedelta(days=30, microseconds=1)
    StatusSpanFactory(store=before_only, status=PollStatus.INACTIVE, first_poll_at=old - dt.timedelta(days=1), last_poll_at=old)
    StatusSpanFactory(store=before_only, status=PollStatus.ACTIVE, first_poll_at=old, last_poll_at=old)
    StatusSpanFactory(store=after_only, first_poll_at=END, last_poll_at=END + dt.timedelta(minutes=1))
    first = dt.datetime(2024, 1, 5, 12, 9, 39, 388884, tzinfo=UTC)
    StatusSpanFactory(store=fine, status=PollStatus.INACTIVE, first_poll_at=first, last_poll_at=first + dt.timedelta(microseconds=999_999))

    spans = store_spans(store_pks=[empty.pk, fine.pk, after_only.pk, before_only.pk, 10**12], start=START, end=END)

    assert list(spans) == [empty.pk, fine.pk, after_only.pk, before_only.pk, 10**12]
    assert spans[before_only.pk] == [Span(True, micros(old), micros(old))]
    assert spans[fine.pk] == [Span(False, micros(first), micros(first) + 999_999)]
    assert spans[after_only.pk] == spans[empty.pk] == spans[10**12] == []
    assert all(type(span) is Span for span in spans[fine.pk])


def test_span_columns_are_the_stores_spans_end_to_end_in_the_order_asked():
    """The same spans as store_spans, to the microsecond, laid end to end in
    the order of the keys given (not the keys' order), with a length of 0
    for a store without spans in the range and for an unknown key."""
    busy, quiet, empty = StoreFactory(), StoreFactory(), StoreFactory()
    first = dt.datetime(2024, 1, 5, 12, 9, 39, 388884, tzinfo=UTC)
    StatusSpanFactory(store=busy, status=PollStatus.ACTIVE, first_poll_at=START - dt.timedelta(hours=3), last_poll_at=START - dt.timedelta(hours=1))
    StatusSpanFactory(store=busy, status=PollStatus.INACTIVE, first_poll_at=first, last_poll_at=first + dt.timedelta(hours=2, microseconds=1))
    StatusSpanFactory(store=quiet, status=PollStatus.ACTIVE, first_poll_at=first, last_poll_at=first)
    StatusSpanFactory(store=empty, first_poll_at=END, last_poll_at=END)
    keys = [quiet.pk, 10**12, empty.pk, busy.pk]

    columns = store_span_columns(store_pks=keys, start=START, end=END)

    spans = store_spans(store_pks=keys, start=START, end=END)
    expected = span_columns([spans[pk] for pk in keys])
    assert columns.lengths.tolist() == [1, 0, 0, 2]
    assert [column.tolist() for column in columns] == [column.tolist() for column in expected]
    assert columns.first.tolist() == [micros(first), micros(START) - 3 * instants.HOUR, micros(first)]
    assert columns.active.tolist() == [1, 1, 0]


def test_batch_inputs_are_the_uptime_inputs_with_spans_as_columns():
    stores = [StoreFactory() for _ in range(3)]
    BusinessHoursFactory(store=stores[1], day_of_week=2, start_time_local=dt.time(9), end_time_local=dt.time(17))
    StatusSpanFactory(store=stores[2], first_poll_at=START + dt.timedelta(hours=1), last_poll_at=START + dt.timedelta(hours=2))
    keys = [store.pk for store in stores]

    batch = store_batch_inputs(store_pks=keys, start=START, end=END)

    inputs = store_uptime_inputs(store_pks=keys, start=START, end=END)
    assert batch.hours == {pk: inputs[pk].hours for pk in keys}
    assert batch.closures == {pk: inputs[pk].closures for pk in keys}
    assert batch.spans.lengths.tolist() == [len(inputs[pk].spans) for pk in keys]


def test_weekly_hours_ignore_fractions_of_seconds_and_repeat_for_a_shared_week():
    first, second = StoreFactory(), StoreFactory()
    for store in (first, second):
        BusinessHoursFactory(store=store, day_of_week=1, start_time_local=dt.time(8, 0, 0, 500_000), end_time_local=dt.time(23, 59, 59, 999_999))
        BusinessHoursFactory(store=store, day_of_week=3, start_time_local=None, end_time_local=None, closed=True)

    weeks = store_weekly_hours(store_pks=[first.pk, second.pk])

    all_day = ((0, DAY_SECONDS),)
    expected = (all_day, ((8 * 3600, DAY_SECONDS),), all_day, (), all_day, all_day, all_day)
    assert weeks[first.pk] == weeks[second.pk] == expected


def test_uptime_inputs_for_no_stores_and_for_many():
    assert store_uptime_inputs(store_pks=[], start=START, end=END) == {}
    stores = [StoreFactory() for _ in range(30)]
    StatusSpanFactory(store=stores[-1], first_poll_at=START)
    inputs = store_uptime_inputs(store_pks=[store.pk for store in stores], start=START, end=END)
    assert list(inputs) == [store.pk for store in stores]
    assert inputs[stores[-1].pk].spans == [Span(True, micros(START), micros(START))]
    assert all(inputs[store.pk] == (uptime.ALWAYS_OPEN, [], ()) for store in stores[:-1])


def test_closures_covering_stores_are_the_same_given_their_organizations():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.closures import closure_period
    from stores.selectors import store_closures
    from stores.services import closure_create
    from stores.tests.factories import StoreGroupFactory

    listed, grouped, plain = StoreFactory(), StoreFactory(), StoreFactory()
    other = StoreFactory()  # another organization, without closures
    group = StoreGroupFactory(organization=grouped.organization)
    grouped.groups.set([group])
    for store, reason in ((listed, "listed"), (grouped, "group"), (plain, "organization")):
        closure_create(
            organization=store.organization,
            period=closure_period("2024-01-05", "2024-01-05"),
            reason=reason,
            created_by=None,
            stores=[store] if reason == "listed" else None,
            group=group if reason == "group" else None,
        )
    stores = [listed, grouped, plain, other]
    pks = [store.pk for store in stores]
    read = store_closures(store_pks=pks, start=START, end=END)
    given = store_closures(store_pks=pks, start=START, end=END, organization_of={s.pk: s.organization_id for s in stores})
    assert given == read
    assert {pk: [closure.reason for closure in closures] for pk, closures in given.items()} == {
        listed.pk: ["listed"], grouped.pk: ["group"], plain.pk: ["organization"], other.pk: []
    }
    # With no closure in range, the organizations given spare the read of the stores: one query.
    with CaptureQueriesContext(connection) as captured:
        assert store_closures(store_pks=[other.pk], start=START, end=END, organization_of={other.pk: other.organization_id}) == {other.pk: []}
    assert len(captured) == 1
