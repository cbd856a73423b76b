"""Device keys: a store's device authenticates with `X-Store-Key: <key>`."""
from __future__ import annotations

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


class StoreKeyAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_STORE_KEY"

    def authenticate(self, request):
        key = request.META.get(self.header)
        if key is None:
            return None
        store = Store.objects.filter(device_key_hash=device_key_hash(key)).first()
        # The lookup is by hash; comparing the hashes again in constant time
        # keeps the check itself free of timing differences.
        if store is None or not device_key_matches(key, store.device_key_hash):
            raise exceptions.AuthenticationFailed("Invalid store key.")
        return Device(store), store

    def authenticate_header(self, request) -> str:
        return "X-Store-Key"
