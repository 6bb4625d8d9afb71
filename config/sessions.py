"""The session engine (``SESSION_ENGINE``): Django's database sessions, with keys only in the shape Django issues.

Django accepts any cookie of eight characters or more as a session key and sends it to the database
as it is, NUL bytes and all. Every key Django itself hands out is ``get_random_string(32, VALID_KEY_CHARS)``
(:meth:`~django.contrib.sessions.backends.base.SessionBase._get_new_session_key`), so anything else
is a cookie nobody was given: it is no session at all, and the request starts a fresh one, without a query.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

KEY_LENGTH = 32  # the length SessionBase._get_new_session_key draws
KEY_CHARS = frozenset(VALID_KEY_CHARS)


def key_well_formed(key: object) -> bool:
    """Whether ``key`` could be a key Django issued: 32 lowercase ASCII letters and digits."""
    return isinstance(key, str) and len(key) == KEY_LENGTH and KEY_CHARS.issuperset(key)


class SessionStore(DatabaseSessionStore):
    """Database sessions that take a cookie as a key only if it is shaped like one Django issued.

    A well-formed key is still only a claim: the views and the websocket consumer use a session's key
    only after loading the session, which forgets a key the database does not hold
    (see :func:`arena.sessions.session_key_verified`).
    """

    def _validate_session_key(self, key: str | None) -> bool:
        return key_well_formed(key)
