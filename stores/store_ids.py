"""The store id rule (docs/semantics.md, section 1), in one place: every id
that enters (the API's bodies and paths, the admin, the Loop import, the
generator) passes clean_store_id."""
from __future__ import annotations

import re
from typing import Any

# The store id rule (docs/semantics.md, section 1): every id is safe as a URL
# path segment and as a CSV cell. The first character is a letter or digit,
# so no cell can start with a spreadsheet formula trigger (= + - @, a tab, a
# CR); nothing outside the set can break a CSV row, a path or a log line.
STORE_ID_MAX_LENGTH = 64
STORE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}"
_STORE_ID = re.compile(STORE_ID_PATTERN, re.ASCII)
_STORE_ID_CHARACTER = re.compile(r"[A-Za-z0-9._:~-]", re.ASCII)
STORE_ID_RULE = "1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit"


class InvalidStoreId(ValueError):
    """A store id outside the rule (STORE_ID_RULE); the message says the rule and what broke it."""


def is_store_id(text: str) -> bool:
    return _STORE_ID.fullmatch(text) is not None


def _store_id_fault(text: str) -> str:
    if not text:
        return "it is empty"
    if len(text) > STORE_ID_MAX_LENGTH:
        return f"it has {len(text)} characters"
    if _STORE_ID_CHARACTER.fullmatch(text[0]) is None or text[0] in "._:~-":
        return f"it starts with {text[0]!r}"
    bad = next(char for char in text if _STORE_ID_CHARACTER.fullmatch(char) is None)
    return f"it contains {bad!r}"


def clean_store_id(value: Any) -> str:
    """A store id by the rule: a string, or a JSON integer taken as its decimal
    text. ValueError for another type; InvalidStoreId for an id outside the rule."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be a string or an integer")
    text = str(value)
    if _STORE_ID.fullmatch(text) is None:
        raise InvalidStoreId(f"must be {STORE_ID_RULE} ({_store_id_fault(text)})")
    return text


def store_id_suggestion(text: str, *, taken: set[str]) -> str:
    """An id within the rule for an id outside it, unlike every id in `taken`:
    characters outside the set become "_", an id not starting with a letter or
    digit gets an "s" in front, and "~2", "~3"... tell clashes apart."""
    # Only characters of the set are left, all ASCII.
    cleaned = "".join(char if _STORE_ID_CHARACTER.fullmatch(char) else "_" for char in text)
    if not cleaned or not cleaned[0].isalnum():
        cleaned = "s" + cleaned
    cleaned = cleaned[:STORE_ID_MAX_LENGTH]
    candidate, number = cleaned, 1
    while candidate in taken:
        number += 1
        suffix = f"~{number}"
        candidate = cleaned[: STORE_ID_MAX_LENGTH - len(suffix)] + suffix
    return candidate
