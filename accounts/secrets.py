"""Random keys stored as hashes: device keys and API tokens alike.

A key is random and long (256 bits), so a fast unsalted SHA-256 is enough,
and a request finds its row by an indexed lookup on the hash; the hashes are
then compared again in constant time."""
from __future__ import annotations

import hashlib
import hmac
import secrets


def secret_hash(key: str) -> str:
    """SHA-256 of a random key, as stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def secret_matches(key: str, stored_hash: str) -> bool:
    """In constant time: how much of the hash matches does not show in the time taken."""
    return hmac.compare_digest(secret_hash(key), stored_hash)


def new_secret() -> tuple[str, str]:
    """A new random key and its hash: the key is shown once, the hash kept."""
    key = secrets.token_urlsafe(32)
    return key, secret_hash(key)
