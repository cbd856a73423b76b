"""API credentials: a user's token (`Authorization: Token <key>`), and the
principals a request can act as: a user, or a store's device (its key is
checked by stores.device_keys). Keys are stored as SHA-256 hashes
(accounts.secrets): a request's key is hashed, its row found by the indexed
hash, and the hashes compared again in constant time. Addresses that send
wrong credentials too often are refused unchecked (accounts.auth_failures)."""
from __future__ import annotations

import datetime as dt

from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from .auth_failures import auth_failure_record, auth_failure_wait
from .models import ApiToken
from .secrets import secret_hash, secret_matches

# A token's last_used_at is written when it is older than this: a client
# posting polls all day costs one UPDATE every few minutes, not one a request.
TOKEN_LAST_USED_EVERY = dt.timedelta(minutes=5)


class Device:
    """The principal of a request made with a device key: it may post polls
    for its own store and nothing else."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    pk = None

    def __init__(self, store: Any) -> None:
        self.store = store  # a stores.device_keys.DeviceStore (accounts sits below stores: not imported)

    def __str__(self) -> str:
        return f"device of store {self.store.store_id}"


class TooManyAuthFailures(exceptions.Throttled):
    default_detail = "Too many requests with wrong credentials from your address; they are not checked for now."
    default_code = "too_many_auth_failures"


def refuse_if_address_blocked(request) -> None:
    """429 without checking anything, when the client's address has failed too often (accounts.auth_failures)."""
    wait = auth_failure_wait(request)
    if wait is not None:
        raise TooManyAuthFailures(wait=wait)


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's TokenAuthentication reads it (the
    same keyword and header errors, so clients do not change), checked
    against accounts.ApiToken's hashes instead of plain keys."""

    keyword = "Token"
    model = ApiToken

    def authenticate(self, request):
        if not self._names_a_token(request):
            return None
        refuse_if_address_blocked(request)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            auth_failure_record(request)
            raise

    def _names_a_token(self, request) -> bool:
        words = authentication.get_authorization_header(request).split()
        return bool(words) and words[0].lower() == self.keyword.lower().encode()

    def authenticate_credentials(self, key: str):
        key_hash = secret_hash(key)
        token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
        # The lookup is by hash; comparing the hashes again in constant time
        # keeps the check itself free of timing differences.
        if token is None or not secret_matches(key, token.key_hash):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token
