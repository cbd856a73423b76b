"""Fixtures shared by every app's tests."""
import pytest
from rest_framework.test import APIClient

from stores.services import api_token_create
from stores.tests.factories import UserFactory


@pytest.fixture(autouse=True)
def empty_cache():
    """The cache holds flags between requests (e.g. a queued figures refresh): no test sees another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def owner(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_owner(db):
    return UserFactory(username="bob")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}")
    return client


@pytest.fixture
def api(owner) -> APIClient:
    """A client authenticated with the owner's token."""
    return token_client(owner)


@pytest.fixture
def other_api(other_owner) -> APIClient:
    return token_client(other_owner)


@pytest.fixture
def admin_api(superuser) -> APIClient:
    return token_client(superuser)
