from __future__ import annotations

import asyncio
import threading

import pytest
from channels.layers import InMemoryChannelLayer

from config.channel_layers import ThreadSafeInMemoryChannelLayer

pytestmark = pytest.mark.embedded


def deliver_across_threads(layer: InMemoryChannelLayer) -> bool:
    """A consumer waits on the server's loop; a worker thread with its own loop sends to its group."""
    received = threading.Event()
    ready = threading.Event()

    async def consumer() -> None:
        channel = await layer.new_channel()
        await layer.group_add("battle.x", channel)
        ready.set()
        await layer.receive(channel)  # no timeout: nothing else would wake this loop
        received.set()

    server = threading.Thread(target=asyncio.run, args=(consumer(),), daemon=True)
    server.start()
    ready.wait(2)
    worker = threading.Thread(target=asyncio.run, args=(layer.group_send("battle.x", {"type": "battle.event"}),))
    worker.start()
    worker.join(2)
    return received.wait(3)


def test_a_worker_threads_event_reaches_a_consumer_waiting_on_the_servers_loop() -> None:
    assert deliver_across_threads(ThreadSafeInMemoryChannelLayer())

