"""The demo data set: several zones, a week of polls with some downtime, loaded twice without change."""
import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from reports.models import StoreFigures
from stores.demo import DEMO_STORES, demo_load
from stores.models import PollStatus, Store, StatusSpan
from stores.tests.factories import organization_of

pytestmark = pytest.mark.django_db


def test_demo_has_stores_across_zones_with_downtime(owner):
    now = dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)
    organization = organization_of(owner)
    demo_load(organization=organization, now=now)
    stores = Store.objects.filter(organization=organization)
    assert stores.count() == len(DEMO_STORES)
    assert len(set(stores.values_list("timezone", flat=True))) >= 5
    # Each demo store is in its region's group, one of the organization's.
    assert {store_id: group for store_id, _, group, _ in DEMO_STORES} == dict(
        stores.filter(groups__organization=organization).values_list("store_id", "groups__name")
    )
    assert StatusSpan.objects.filter(store__organization=organization, status=PollStatus.INACTIVE).exists()
    polls = sum(StatusSpan.objects.filter(store__organization=organization).values_list("poll_count", flat=True))
    assert polls > len(DEMO_STORES) * 7 * 24 * 0.9  # about hourly for 8 days

    spans_before = list(StatusSpan.objects.order_by("pk").values_list("pk", "last_poll_at", "poll_count"))
    demo_load(organization=organization, now=now)
    assert list(StatusSpan.objects.order_by("pk").values_list("pk", "last_poll_at", "poll_count")) == spans_before


def test_load_demo_command_creates_a_staff_user_and_the_figures(capsys):
    call_command("load_demo", "--owner", "demo-owner", "--password", "a-demo-password")
    user = get_user_model().objects.get(username="demo-owner")
    assert user.is_staff and not user.is_superuser
    assert user.check_password("a-demo-password")
    assert StoreFigures.objects.filter(store__organization=organization_of(user)).count() == len(DEMO_STORES)
    assert "demo-owner" in capsys.readouterr().out
