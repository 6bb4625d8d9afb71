"""The distributed configuration for real: PostgreSQL, a Celery worker process on Redis, channels_redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import Client

from arena.models import Answer, ArenaModel
from config.asgi import application
from tests.conftest import service_missing
from tests.processes import running

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        service_missing("the distributed tests need DATABASE_URL (PostgreSQL) and REDIS_URL")
    from config.celery import app

    app.control.purge()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "ARENA_DATA_DIR": str(settings.DATA_DIR),
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "4", "-Q", "default",
               "--without-mingle", "--without-gossip", "-l", "warning", "-n", f"test-{os.getpid()}@localhost"]
    with running(command, cwd=ROOT, env=env) as process:
        yield process


@database_sync_to_async
def setup_battle_owner(delay: float = 0.05) -> str:
    """Two demo models that stream a chunk every ``delay`` seconds, and a browser session; returns its key."""
    for name, persona in (("Alpha", "ibis"), ("Beta", "heron")):
        ArenaModel.objects.create(name=name, state="active", adapter_kind="demo", provider_model=persona,
                                  options={"delay": delay})
    session = SessionStore()
    session.create()
    return session.session_key


def http(session_key: str, method: str, url: str, data: Any = None) -> Any:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    response = client.get(url) if method == "GET" else client.post(url, data=json.dumps(data), content_type="application/json")
    assert response.status_code < 300, response.content
    return response.json()


def socket(battle_id: str, session_key: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())]
    return WebsocketCommunicator(application, f"/ws/battles/{battle_id}/", headers=headers)


class Page:
    """What the browser does: subscribe, fetch the persisted state, then apply newer numbered chunks."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.answers = {side: dict(state["turns"][0]["answers"][side]) for side in ("a", "b")}

    def apply(self, event: dict[str, Any]) -> None:
        answer = self.answers[event["side"]]
        if event["type"] == "side_done":
            answer.update(status=event["status"], text=event["text"], seq=None)
        elif answer["status"] not in ("done", "failed") and event["seq"] > (answer["seq"] or 0):
            assert event["seq"] == (answer["seq"] or 0) + 1, "a chunk was lost"
            answer.update(text=answer["text"] + event["text"], seq=event["seq"], status="streaming")

    def done(self) -> bool:
        return all(a["status"] in ("done", "failed") for a in self.answers.values())


async def test_a_battle_streams_through_a_real_worker_and_survives_a_reconnect(worker) -> None:
    session_key = await setup_battle_owner()
    battle = await sync_to_async(http)(session_key, "POST", "/api/battles", {"prompt": "Tell me about rivers"})
    battle_id = battle["id"]

    ws = socket(battle_id, session_key)
    assert (await ws.connect())[0]
    page = Page(await sync_to_async(http)(session_key, "GET", f"/api/battles/{battle_id}"))
    chunks_seen = 0
    while chunks_seen < 5:  # watch part of the stream, then drop the connection mid-answer
        event = await ws.receive_json_from(timeout=30)
        page.apply(event)
        chunks_seen += event["type"] == "chunk"
    await ws.disconnect()
    await asyncio.sleep(0.3)

    ws = socket(battle_id, session_key)
    assert (await ws.connect())[0]
    page = Page(await sync_to_async(http)(session_key, "GET", f"/api/battles/{battle_id}"))
    resumed_mid_stream = any(a["status"] == "streaming" and a["text"] for a in page.answers.values())
    while not page.done():
        page.apply(await ws.receive_json_from(timeout=30))
    await ws.disconnect()

    saved = await database_sync_to_async(
        lambda: {a.side: a.text for a in Answer.objects.filter(turn__battle__uuid=battle_id)}
    )()
    assert resumed_mid_stream, "the reconnect happened after the answers finished; the test proves nothing"
    assert {side: a["text"] for side, a in page.answers.items()} == saved
    assert all(saved.values())
    state = await sync_to_async(http)(session_key, "GET", f"/api/battles/{battle_id}")
    assert state["status"] == "ready"
    vote = await sync_to_async(http)(session_key, "POST", f"/api/battles/{battle_id}/vote", {"outcome": "a"})
    assert vote["models"]["a"]["name"] in {"Alpha", "Beta"}
    await database_sync_to_async(lambda: connection.close())()
