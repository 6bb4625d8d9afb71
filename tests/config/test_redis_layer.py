"""The Redis channel layer keeps idle battle sockets open (redis-py 8's 5 s read timeout used to close them)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from arena import streaming
from tests.arena.test_consumers import _close_thread_connections, battle_for_new_session, communicator  # noqa: F401
from tests.conftest import service_missing

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]
IDLE_SECONDS = 12  # more than twice the 5 s that used to kill an idle socket


@pytest.fixture(autouse=True)
def _redis_layer() -> None:
    if not settings.REDIS_URL:
        service_missing("the Redis channel layer test needs REDIS_URL")
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"


async def test_an_idle_socket_on_the_redis_layer_stays_open_and_still_gets_events() -> None:
    battle_id, session_key = await battle_for_new_session()
    ws = communicator(battle_id, session_key)
    connected, _ = await ws.connect()
    assert connected
    assert await ws.receive_nothing(timeout=IDLE_SECONDS, interval=0.5)  # silence: no close frame, no error
    event: dict[str, Any] = {"type": "chunk", "turn": 1, "side": "a", "seq": 1, "text": "still here"}
    await streaming.group_event(battle_id.replace("-", ""), event)
    assert await ws.receive_json_from(timeout=5) == event
    await ws.disconnect()
