"""A store device's key (`X-Store-Key: <key>`): it may post polls for its
own store and do nothing else. Stored as its SHA-256 (accounts.secrets); a
request acts as accounts.authentication.Device."""
from __future__ import annotations

from django.db import connection
from rest_framework import authentication, exceptions

from accounts.auth_failures import auth_failure_record
from accounts.authentication import Device, refuse_if_address_blocked
from accounts.secrets import secret_hash, secret_matches

from .models import Store


def store_by_key_hash(key_hash: str) -> Store | None:
    """The store with this device key hash, if any.

    Written in SQL: every poll a device posts runs this, and the ORM's
    filter().first() costs more CPU than the same lookup through raw()
    (bench/RESULTS.md).
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
        refuse_if_address_blocked(request)
        store = store_by_key_hash(secret_hash(key))
        # The lookup is by hash; comparing the hashes again in constant time
        # keeps the check itself free of timing differences.
        if store is None or not secret_matches(key, store.device_key_hash):
            auth_failure_record(request)
            raise exceptions.AuthenticationFailed("Invalid store key.")
        return Device(store), store

    def authenticate_header(self, request) -> str:
        return "X-Store-Key"
