"""Who may see a row (common/ownership.py): its owner, or a superuser; nobody
else, and nothing that is not a logged-in account (a device, an anonymous
visitor, an object without the attributes of a user)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.authentication import Device
from common.ownership import is_visible_to, sees_everything
from stores.models import Store
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(owner):
    return StoreFactory(owner=owner, store_id="mine")


@pytest.fixture
def theirs(other_owner):
    return StoreFactory(owner=other_owner, store_id="theirs")


def test_an_owner_sees_their_rows_only(owner, mine, theirs):
    assert list(Store.objects.visible_to(owner)) == [mine]
    assert is_visible_to(mine, owner)
    assert not is_visible_to(theirs, owner)


def test_a_superuser_sees_every_row(superuser, mine, theirs):
    assert list(Store.objects.visible_to(superuser)) == [mine, theirs]
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
    assert not Store.objects.visible_to(principal).exists()
    assert not is_visible_to(mine, principal) and not is_visible_to(theirs, principal)
