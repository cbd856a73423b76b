"""A store device's key (`X-Store-Key: <key>`): it may post polls for its
own store and do nothing else. Stored as its SHA-256 (accounts.secrets); a
request acts as accounts.authentication.Device.

Every poll a device posts authenticates, so the lookup of a key's store is
cached in each process for CACHE_SECONDS: a DeviceStore (the store's pk,
store id and the key hash it was found by), by key hash; a key found by
nothing is not cached. The request's key is still hashed and compared with
the cached hash in constant time (accounts.secrets.secret_matches) on every
request.

How long a rotated key (stores.services.store_rotate_device_key) or a
deleted store's key goes on being taken:

- a rotated key records no poll from the moment the rotation commits,
  whatever this cache holds: polls_record locks the store's row by its pk
  and checks the row's key hash against the one the key was found by, in
  the statement that reads the row (stores.services), and a poll with a
  rotated key is answered 401 like any wrong key (and counted as a failure
  of the address: accounts.auth_failures). A deleted store records nothing
  either: its row is gone; its device's polls are answered 404
  unknown_store, as they were when the store went between a request's
  authentication and its poll;
- otherwise, at most CACHE_SECONDS in another process: the process that
  rotates a key or deletes a store forgets it at once (device_key_forget),
  the others when their entry expires. Meanwhile such a key is a device
  on the other endpoints, which refuse devices (403 permission_denied
  instead of 401), the poll of a deleted store's key is 404 instead of 401,
  and its requests count against the store's MONITOR_THROTTLE_DEVICE
  budget rather than the address's failures.
"""
from __future__ import annotations

import threading
import time
from typing import NamedTuple

from django.db import connection
from django.db.models.signals import post_delete
from rest_framework import authentication, exceptions

from accounts.auth_failures import auth_failure_record
from accounts.authentication import Device, refuse_if_address_blocked
from accounts.secrets import secret_hash, secret_matches

from .models import Store

# How long a process takes a key's store from its cache (see above).
CACHE_SECONDS = 5.0
# Keys a process keeps at most: each entry is a few hundred bytes. Past it,
# expired entries go, then (a process posting for that many stores within
# CACHE_SECONDS) the whole cache.
CACHE_MAX_ENTRIES = 20_000


class DeviceStore(NamedTuple):
    """What a device's request needs of its store, no model instance: its
    Device's `store` (and request.auth), and polls_record's `device_store`."""

    pk: int
    store_id: str
    # The hash the request's key was found by: polls_record checks the locked row still has it.
    device_key_hash: str


# key hash -> (time.monotonic() after which it is looked up again, its store)
_cache: dict[str, tuple[float, DeviceStore]] = {}
_cache_trim_lock = threading.Lock()


def _statement() -> str:
    quote = connection.ops.quote_name
    meta = Store._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("id", "store_id", "device_key_hash"))
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('device_key_hash').column)} = %s"


_STATEMENTS: dict[str, str] = {}


def store_by_key_hash(key_hash: str) -> DeviceStore | None:
    """The store with this device key hash, if any, read now (not cached).

    Written in SQL on a plain cursor, the statement built once per database
    vendor: every poll a device posts needs this (when not cached), and the
    ORM's filter().first(), even raw(), cost more CPU than the lookup itself.
    """
    statement = _STATEMENTS.get(connection.vendor)
    if statement is None:
        statement = _STATEMENTS[connection.vendor] = _statement()
    with connection.cursor() as cursor:
        cursor.execute(statement, [key_hash])
        row = cursor.fetchone()
    return None if row is None else DeviceStore(*row)


def device_store_for_key(key: str) -> DeviceStore | None:
    """The store this device key is the key of, or None: from this process's
    cache when looked up less than CACHE_SECONDS ago. The key's hash is
    compared with the store's in constant time either way."""
    key_hash = secret_hash(key)
    now = time.monotonic()
    entry = _cache.get(key_hash)
    if entry is not None and entry[0] > now:
        store: DeviceStore | None = entry[1]
    else:
        store = store_by_key_hash(key_hash)
        if store is None:
            _cache.pop(key_hash, None)
        else:
            if len(_cache) >= CACHE_MAX_ENTRIES:
                _cache_trim(now)
            _cache[key_hash] = (now + CACHE_SECONDS, store)
    # The lookup is by hash; comparing the hashes again in constant time
    # keeps the check itself free of timing differences.
    if store is None or not secret_matches(key, store.device_key_hash):
        return None
    return store


def _cache_trim(now: float) -> None:
    with _cache_trim_lock:
        for key_hash, (expires, _store) in list(_cache.items()):
            if expires <= now:
                _cache.pop(key_hash, None)
        if len(_cache) >= CACHE_MAX_ENTRIES:
            _cache.clear()


def device_key_forget(*, store_pk: int) -> None:
    """Drop this process's cached lookups of the store's keys (its key was
    rotated, or the store deleted); other processes' expire by themselves."""
    for key_hash, (_expires, store) in list(_cache.items()):
        if store.pk == store_pk:
            _cache.pop(key_hash, None)


def device_key_cache_clear() -> None:
    """Forget every cached lookup (tests: each test's database starts afresh)."""
    _cache.clear()


def _forget_deleted_store(sender, instance: Store, **kwargs) -> None:
    device_key_forget(store_pk=instance.pk)


post_delete.connect(_forget_deleted_store, sender=Store, dispatch_uid="stores.device_keys.forget_deleted_store")


def device_key_refused(request, *, store_pk: int | None = None) -> exceptions.AuthenticationFailed:
    """What a wrong device key is answered (to raise), counted against the
    address (accounts.auth_failures). `store_pk`: the store a cached lookup
    found it for, whose row polls_record found with another key now
    (stores.services.DeviceKeyInvalid): forgotten."""
    if store_pk is not None:
        device_key_forget(store_pk=store_pk)
    auth_failure_record(request)
    return exceptions.AuthenticationFailed("Invalid store key.")


class StoreKeyAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_STORE_KEY"

    def authenticate(self, request):
        key = request.META.get(self.header)
        if key is None:
            return None
        refuse_if_address_blocked(request)
        store = device_store_for_key(key)
        if store is None:
            raise device_key_refused(request)
        return Device(store), store

    def authenticate_header(self, request) -> str:
        return "X-Store-Key"
