"""Who may see a row that belongs to one user (common/ownership.py): its
owner, or a superuser; nobody else, and nothing that is not a logged-in
account (a device, an anonymous visitor, an object without the attributes of
a user). Tested through reports, which are their requester's rows (stores
belong to organizations instead: their rule is stores.access)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.authentication import Device
from common.ownership import OwnedQuerySet, is_visible_to, sees_everything
from reports.models import Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(owner):
    return Report.objects.create(requested_by=owner, as_of=timezone.now())


@pytest.fixture
def theirs(other_owner):
    return Report.objects.create(requested_by=other_owner, as_of=timezone.now())


def test_reports_are_owned_rows():
    assert isinstance(Report.objects.all(), OwnedQuerySet)
    assert Report.objects.all().owner_field == "requested_by"


def test_an_owner_sees_their_rows_only(owner, mine, theirs):
    assert list(Report.objects.visible_to(owner)) == [mine]
    assert is_visible_to(mine, owner)
    assert not is_visible_to(theirs, owner)


def test_a_superuser_sees_every_row(superuser, mine, theirs):
    assert set(Report.objects.visible_to(superuser)) == {mine, theirs}
    assert Report.objects.visible_to(superuser).count() == 2
    assert is_visible_to(theirs, superuser) and sees_everything(superuser)


@pytest.mark.parametrize(
    "principal_of",
    [
        lambda owner: AnonymousUser(),
        lambda owner: Device(store=None),  # authenticated, but no account: pk None
        lambda owner: SimpleNamespace(pk=owner.pk),  # the owner's key, but no is_authenticated nor is_superuser
        lambda owner: SimpleNamespace(is_authenticated=True, pk=None),
    ],
    ids=["anonymous", "a device", "not a user", "no primary key"],
)
def test_what_is_not_an_account_sees_nothing(principal_of, owner, mine, theirs):
    principal = principal_of(owner)
    assert not sees_everything(principal)
    assert not Report.objects.visible_to(principal).exists()
    assert not is_visible_to(mine, principal) and not is_visible_to(theirs, principal)
