"""The embedded default's channel layer.

Channels' in-memory layer keeps asyncio queues that belong to the web
server's event loop. In the embedded default the Celery worker runs in threads
of the same process, each with its own event loop, and a put from another loop
would never wake the consumer waiting on the queue. This layer remembers the
loop its consumers receive on and hops sends from other loops onto it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import InMemoryChannelLayer


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner_loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, channel: str) -> Any:
        self._owner_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._on_owner_loop(super().send(channel, message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._on_owner_loop(super().group_send(group, message))

    async def _on_owner_loop(self, coroutine: Any) -> None:
        owner = self._owner_loop
        if owner is None or owner.is_closed() or not owner.is_running() or owner is asyncio.get_running_loop():
            await coroutine
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, owner))
