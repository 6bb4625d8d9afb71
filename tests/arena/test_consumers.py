from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from arena import services, streaming
from arena.models import ArenaModel
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    """Close the connection Django opened in the sync-to-async worker thread, so the test database can be dropped."""
    yield
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


@database_sync_to_async
def battle_for_new_session() -> tuple[str, str]:
    for name in ("Alpha", "Beta"):
        ArenaModel.objects.create(name=name, state="active", adapter_kind="demo", provider_model="pelican", options={"delay": 0})
    session = SessionStore()
    session.create()
    battle = services.battle_create(prompt="Hi", session_key=session.session_key, ip_hash="h")
    return str(battle.uuid), session.session_key


def communicator(battle_id: str, session_key: str, origin: str = "http://localhost") -> WebsocketCommunicator:
    headers: list[tuple[bytes, bytes]] = [
        (b"origin", origin.encode()),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()),
        (b"host", b"localhost"),
    ]
    return WebsocketCommunicator(application, f"/ws/battles/{battle_id}/", headers=headers)


async def test_it_relays_the_battles_events_to_its_owner() -> None:
    battle_id, session_key = await battle_for_new_session()
    ws = communicator(battle_id, session_key)
    connected, _ = await ws.connect()
    assert connected
    event: dict[str, Any] = {"type": "chunk", "turn": 1, "side": "a", "seq": 1, "text": "Hel"}
    await streaming.group_event(battle_id.replace("-", ""), event)
    assert await ws.receive_json_from(timeout=2) == event
    await ws.send_json_to({"type": "chunk", "text": "from the browser"})
    assert await ws.receive_nothing(timeout=0.2)  # the socket never echoes or accepts input
    await ws.disconnect()


async def test_it_refuses_a_foreign_origin() -> None:
    battle_id, session_key = await battle_for_new_session()
    ws = communicator(battle_id, session_key, origin="https://evil.example")
    connected, _ = await ws.connect()
    assert not connected


async def test_it_refuses_a_session_that_does_not_own_the_battle() -> None:
    battle_id, _ = await battle_for_new_session()
    other = await database_sync_to_async(lambda: (s := SessionStore(), s.create(), s.session_key)[2])()
    ws = communicator(battle_id, other)
    connected, code = await ws.connect()
    assert not connected and code == 4404


async def test_it_refuses_an_unknown_battle() -> None:
    _, session_key = await battle_for_new_session()
    ws = communicator("00000000-0000-0000-0000-000000000000", session_key)
    connected, _ = await ws.connect()
    assert not connected


async def test_a_database_outage_closes_the_socket_with_try_again_later(monkeypatch) -> None:
    from django.db import OperationalError

    from arena import consumers

    battle_id, session_key = await battle_for_new_session()

    def down(*args: Any) -> bool:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    monkeypatch.setattr(consumers, "session_owns_battle", down)
    ws = communicator(battle_id, session_key)
    connected, _ = await ws.connect()
    assert connected  # the handshake completes, so the page is told why
    assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": consumers.TRY_AGAIN_LATER}
