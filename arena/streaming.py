"""Relaying a streamed answer to the battle's channel-layer group.

Chunks are coalesced (at most ``max_chunks`` per message, or whatever arrived
within ``interval`` seconds) and numbered. Before each message is sent, the
text so far and its sequence number are kept in the cache, so a page that
reconnects mid-stream fetches them and then applies only newer messages.
Nothing here touches the database: answers are persisted once, by the task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from .errors import INFRASTRUCTURE_ERRORS
from .leaks import StreamScanner

Publish = Callable[[int, str], Awaitable[None]]
logger = logging.getLogger(__name__)


def battle_group(battle_uuid: Any) -> str:
    return f"battle.{getattr(battle_uuid, 'hex', battle_uuid)}"


def buffer_key(turn_id: int, side: str) -> str:
    return f"arena:stream:{turn_id}:{side}"


STOP_POLL_SECONDS = 0.2  # how often a generating worker looks for a voter's Stop
STOP_TTL_SECONDS = 3600  # a Stop outlives any queue wait of the side it stops


def stop_key(turn_id: int, side: str) -> str:
    return f"arena:stop:{turn_id}:{side}"


def stop_request(turn_id: int, side: str) -> None:
    """Ask the worker generating this side (now, or once it starts) to stop: the cache is shared by the web
    processes and the workers in both configurations."""
    cache.set(stop_key(turn_id, side), 1, STOP_TTL_SECONDS)


def stop_clear(turn_id: int, side: str) -> None:
    """Forget a Stop, before the side is asked again (a retry or a regeneration)."""
    cache.delete(stop_key(turn_id, side))


def stop_requested(turn_id: int, side: str) -> bool:
    try:
        return bool(cache.get(stop_key(turn_id, side)))
    except INFRASTRUCTURE_ERRORS as exc:  # Redis away: keep generating; the voter can press Stop again
        logger.warning("reading the stop flag of %s/%s failed: %s", turn_id, side, exc)
        return False


def buffer_read(turn_id: int, side: str) -> tuple[int, str]:
    """The sequence number and text relayed so far for one answer, (0, "") if none."""
    value = cache.get(buffer_key(turn_id, side))
    return (value["seq"], value["text"]) if value else (0, "")


def buffer_clear(turn_id: int, side: str) -> None:
    cache.delete(buffer_key(turn_id, side))


async def group_event(battle_uuid: Any, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(battle_group(battle_uuid), {"type": "battle.event", "payload": payload})


def group_event_sync(battle_uuid: Any, payload: dict[str, Any]) -> None:
    async_to_sync(group_event)(battle_uuid, payload)


class Coalescer:
    """Groups text chunks into numbered messages: by count, or after ``interval`` seconds."""

    def __init__(self, publish: Publish, *, interval: float, max_chunks: int) -> None:
        self.publish = publish
        self.interval = interval
        self.max_chunks = max_chunks
        self.seq = 0
        self.messages = 0
        self._pending: list[str] = []
        self._last_flush = 0.0
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, text: str) -> None:
        self._pending.append(text)
        loop = asyncio.get_running_loop()
        if len(self._pending) >= self.max_chunks or loop.time() - self._last_flush >= self.interval:
            await self.flush()
        elif self._timer is None:
            delay = self.interval - (loop.time() - self._last_flush)
            self._timer = asyncio.create_task(self._flush_later(delay))

    async def _flush_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None and timer is not asyncio.current_task():
                timer.cancel()
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            self.seq += 1
            self.messages += 1
            self._last_flush = asyncio.get_running_loop().time()
            await self.publish(self.seq, text)


async def relay(
    chunks: AsyncIterable[str], *, battle_uuid: Any, turn_id: int, turn_index: int, side: str,
    scanner: StreamScanner | None = None,
) -> int:
    """Send ``chunks`` to the battle's group as coalesced, numbered messages; return the message count.

    With a ``scanner``, each message is searched for identity leaks (:mod:`arena.leaks`) and the first
    one found is announced to the page (an ``identity_leak`` event), before the answer finishes.
    """
    relayed: list[str] = []
    failures: list[int] = []
    announced = False

    async def publish(seq: int, text: str) -> None:
        nonlocal announced
        relayed.append(text)
        leaked = scanner is not None and bool(scanner.feed(text)) and not announced
        try:
            cache.set(buffer_key(turn_id, side), {"seq": seq, "text": "".join(relayed)},
                      settings.ARENA_STREAM_BUFFER_SECONDS)
            await group_event(battle_uuid, {"type": "chunk", "turn": turn_index, "side": side, "seq": seq, "text": text})
            if leaked:
                announced = True
                await group_event(battle_uuid, {"type": "identity_leak", "turn": turn_index, "side": side})
        except INFRASTRUCTURE_ERRORS as exc:
            # Redis blinked: the model keeps streaming and the answer is saved whole; the page sees a gap in
            # the numbers and re-reads the battle, or gets the full text with side_done.
            if not failures:
                logger.warning("relaying %s/%s to the page failed: %s: %s", turn_id, side, type(exc).__name__, exc)
            failures.append(seq)

    coalescer = Coalescer(publish, interval=settings.ARENA_COALESCE_MS / 1000, max_chunks=settings.ARENA_COALESCE_CHUNKS)
    try:
        async for text in chunks:
            await coalescer.add(text)
    finally:
        await coalescer.flush()
    return coalescer.messages
