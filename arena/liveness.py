"""How the arena knows an answer is still being worked on: a heartbeat per streaming side, a mark per queued one.

A worker that starts a side beats every ``HEARTBEAT_EVERY`` seconds, from a thread of its own (so a model
that blocks the event loop while it loads still beats), into a cache key that lives ``ARENA_HEARTBEAT_TTL``
seconds. A worker that is killed stops beating, and the sweep (:func:`arena.answers.answers_expire`) fails
the side once the key has expired: measured, not guessed from the model's timeouts. A side whose generation
task was queued carries a dispatch mark; one without (the broker was down when the battle was saved) is
queued again by the sweep.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from types import TracebackType

from django.conf import settings
from django.core.cache import cache

from .errors import INFRASTRUCTURE_ERRORS

logger = logging.getLogger(__name__)
HEARTBEAT_EVERY = 2.0


def heartbeat_key(turn_id: int, side: str) -> str:
    return f"arena:heartbeat:{turn_id}:{side}"


def dispatch_key(turn_id: int, side: str) -> str:
    return f"arena:dispatched:{turn_id}:{side}"


def heartbeat_alive(turn_id: int, side: str) -> bool:
    """Whether a worker beat for this side within the last ``ARENA_HEARTBEAT_TTL`` seconds."""
    return cache.get(heartbeat_key(turn_id, side)) is not None


def dispatch_mark(turn_id: int, side: str) -> None:
    """Note that this side's generation task reached the broker."""
    cache.set(dispatch_key(turn_id, side), 1, settings.ARENA_QUEUE_TIMEOUT + 60)


def dispatched(turn_id: int, side: str) -> bool:
    return cache.get(dispatch_key(turn_id, side)) is not None


class Heartbeat:
    """Beats for one side while the ``with`` block runs, then removes the key."""

    def __init__(self, turn_id: int, side: str, *, every: float = HEARTBEAT_EVERY) -> None:
        self.key, self.every = heartbeat_key(turn_id, side), every
        self.worker = f"{socket.gethostname()}:{threading.get_native_id()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.key}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(self.every + 1)
        with contextlib.suppress(*INFRASTRUCTURE_ERRORS):  # it expires by itself
            cache.delete(self.key)

    def beat(self) -> None:
        cache.set(self.key, self.worker, settings.ARENA_HEARTBEAT_TTL)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except INFRASTRUCTURE_ERRORS as exc:  # Redis briefly away: the next beat may get through
                logger.warning("heartbeat %s failed: %s", self.key, exc)
