"""The SQL integer forms of datetimes and times agree with the engine's, on every database."""
import datetime as dt

import pytest

from core import instants
from common.expressions import EpochMicroseconds, InIntegers
from stores.models import StatusSpan, Store
from stores.tests.factories import StatusSpanFactory, StoreFactory

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


@pytest.mark.parametrize(
    "instant",
    [
        dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC),  # no fraction: stored without one on SQLite
        dt.datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=UTC),
        dt.datetime(2023, 1, 22, 12, 9, 39, 388884, tzinfo=UTC),
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 3, 10, 8, 30, 0, 999999, tzinfo=UTC),
        dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),  # past 32-bit seconds
    ],
)
def test_epoch_microseconds_is_exact(instant):
    StatusSpanFactory(first_poll_at=instant, last_poll_at=instant)
    value = StatusSpan.objects.values_list(EpochMicroseconds("first_poll_at"), flat=True).get()
    assert value == instants.to_micros(instant)


def test_in_integers_filters_by_many_keys_in_one_parameter():
    stores = [StoreFactory() for _ in range(5)]
    chosen = [stores[0].pk, stores[3].pk, 10**12]  # a key without a row matches nothing
    assert sorted(Store.objects.filter(InIntegers("pk", chosen)).values_list("pk", flat=True)) == chosen[:2]
    _, params = Store.objects.filter(InIntegers("pk", chosen)).query.sql_with_params()
    assert len(params) == 1
    assert not Store.objects.filter(InIntegers("pk", [])).exists()


@pytest.mark.parametrize("opaque", [False, True])
def test_in_integers_opaque_to_the_planner_filters_alike(opaque):
    stores = [StoreFactory() for _ in range(4)]
    for store in stores:
        StatusSpanFactory(store=store)
    chosen = [stores[1].pk, stores[2].pk, 10**12]
    spans = StatusSpan.objects.filter(InIntegers("store_id", chosen, opaque=opaque))
    assert sorted(spans.values_list("store_id", flat=True)) == chosen[:2]
    assert not StatusSpan.objects.filter(InIntegers("store_id", [], opaque=opaque)).exists()
