"""A worker killed mid-answer: its heartbeat stops, and the sweep reports both sides failed to the page in seconds."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connection

from arena import reaper
from arena.models import Answer

from .test_distributed import http, setup_battle_owner, socket, worker  # noqa: F401 - the real worker fixture

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]
REPORTED_WITHIN = 30.0  # seconds from the kill to the page being told


@database_sync_to_async
def statuses(battle_id: str) -> set[str]:
    return set(Answer.objects.filter(turn__battle__uuid=battle_id).values_list("status", flat=True))


async def test_every_answer_of_a_killed_worker_is_reported_failed_within_30_seconds(worker) -> None:  # noqa: F811
    session_key = await setup_battle_owner(delay=0.4)  # long enough answers to kill the worker mid-way
    battle = await sync_to_async(http)(session_key, "POST", "/api/battles", {"prompt": "Tell me a long story"})
    ws = socket(battle["id"], session_key)
    assert (await ws.connect())[0]
    seen: dict[str, int] = {"a": 0, "b": 0}
    while min(seen.values()) < 2:  # both sides are streaming on the worker
        event: dict[str, Any] = await ws.receive_json_from(timeout=30)
        if event["type"] == "chunk":
            seen[event["side"]] += 1
    os.kill(worker.pid, signal.SIGKILL)
    killed = time.monotonic()
    worker.wait(10)
    failed: dict[str, dict[str, Any]] = {}
    while len(failed) < 2 and time.monotonic() - killed < REPORTED_WITHIN:
        await database_sync_to_async(reaper.answers_expire)()  # what beat runs every ARENA_EXPIRE_EVERY_SECONDS
        # receive_nothing waits without ending the application, as a timed-out receive would.
        while len(failed) < 2 and not await ws.receive_nothing(timeout=1, interval=0.05):
            event = await ws.receive_json_from(timeout=5)
            if event["type"] == "side_done":
                failed[event["side"]] = event
    elapsed = time.monotonic() - killed
    assert sorted(failed) == ["a", "b"], f"only {sorted(failed)} reported after {elapsed:.0f} s"
    assert all(e["status"] == "failed" and e["battle_status"] == "failed" for e in failed.values())
    assert all(e["text"] for e in failed.values())  # the text already shown is kept
    assert elapsed < REPORTED_WITHIN
    assert await statuses(battle["id"]) == {"failed"}
    await ws.disconnect()
    await database_sync_to_async(lambda: connection.close())()
