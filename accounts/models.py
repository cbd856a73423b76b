"""Accounts' own data: API tokens. Users are Django's auth users; an owner is a
staff user in the owners group (accounts.services)."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A user's API key (`Authorization: Token <key>`), stored as its SHA-256
    only: the plain key is shown once, when it is made, and never again.

    The key is random and long (256 bits; 160 for keys converted from DRF's
    authtoken table), so a fast unsalted hash is enough, and a request finds
    its token by an indexed lookup on the hash, as device keys do.
    """

    # A user may hold several (one per client); rotating replaces them all.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # The key's first characters: not enough to use it, enough to tell it apart.
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most every few minutes (accounts.authentication.TOKEN_LAST_USED_EVERY), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table it had in the stores app: moved without copying a row (migration accounts.0001).
        db_table = "stores_apitoken"
        ordering = ["user_id", "created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}…"
