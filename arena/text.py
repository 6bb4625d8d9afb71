"""Whether text from a request can be stored at all, before any query is built from it."""

from __future__ import annotations


def text_storable(text: str) -> bool:
    """Whether every database the arena runs on can store ``text``, and so also query with it.

    PostgreSQL text cannot hold NUL, and neither it nor SQLite takes a lone UTF-16 surrogate,
    which is not UTF-8 at all (JSON's ``"\\ud800"`` decodes to one).
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
