"""Device keys: a store's device authenticates with `X-Store-Key: <key>`."""
from __future__ import annotations

from django.db import connection
from rest_framework import authentication, exceptions

from .models import Store
from .services import device_key_hash, device_key_matches


class Device:
    """The principal of a request made with a device key: it may post polls
    for its own store and nothing else."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    pk = None

    def __init__(self, store: Store) -> None:
        self.store = store

    def __str__(self) -> str:
        return f"device of store {self.store.store_id}"


def store_by_key_hash(key_hash: str) -> Store | None:
    """The store with this device key hash, if any.

    Written in SQL: every poll a device posts runs this, and the ORM's
    filter().first() cost twice the CPU of the same lookup through raw().
    """
    quote = connection.ops.quote_name
    meta = Store._meta
    statement = (
        f"SELECT {', '.join(quote(field.column) for field in meta.concrete_fields)} FROM {quote(meta.db_table)}"
        f" WHERE {quote(meta.get_field('device_key_hash').column)} = %s"
    )
    return next(iter(Store.objects.raw(statement, [key_hash])), None)


class StoreKeyAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_STORE_KEY"

    def authenticate(self, request):
        key = request.META.get(self.header)
        if key is None:
            return None
        store = store_by_key_hash(device_key_hash(key))
        # The lookup is by hash; comparing the hashes again in constant time
        # keeps the check itself free of timing differences.
        if store is None or not device_key_matches(key, store.device_key_hash):
            raise exceptions.AuthenticationFailed("Invalid store key.")
        return Device(store), store

    def authenticate_header(self, request) -> str:
        return "X-Store-Key"
