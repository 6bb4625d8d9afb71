"""Which browser session a request or a websocket belongs to."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase


def session_key_verified(session: SessionBase) -> str | None:
    """The session's key if the session store holds that session, else None.

    Django takes the cookie's value as the key without asking the store whether such a session exists;
    only reading the session's data does, and a key the store does not hold is then forgotten. So the
    data is read first: a cookie that names no session is no session, and nobody can act under a key
    they made up (or one of an expired session).
    """
    session.keys()  # loads the session once (the store caches it), dropping a key it does not hold
    return session.session_key
