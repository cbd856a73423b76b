import datetime as dt

import factory
from django.contrib.auth import get_user_model

from stores.models import BusinessHours, PollStatus, Store, StatusSpan
from accounts.secrets import secret_hash


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"owner{n}")
    password = factory.django.Password("correct horse battery staple")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    store_id = factory.Sequence(lambda n: f"store-{n:04d}")
    owner = factory.SubFactory(UserFactory)
    timezone = "America/Chicago"
    device_key_hash = factory.LazyAttribute(lambda store: secret_hash(f"key-for-{store.store_id}"))


class BusinessHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHours

    store = factory.SubFactory(StoreFactory)
    day_of_week = 0
    start_time_local = dt.time(9)
    end_time_local = dt.time(17)
    closed = False


class StatusSpanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatusSpan

    store = factory.SubFactory(StoreFactory)
    status = PollStatus.ACTIVE
    first_poll_at = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)
    last_poll_at = factory.LazyAttribute(lambda span: span.first_poll_at)
    poll_count = 1
