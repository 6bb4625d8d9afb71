"""Redis stops and comes back (our own Redis, on its own port): clients get JSON 503s, never tracebacks, and
nothing committed is reported as failed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from arena.models import ArenaModel, Battle, Vote
from tests.conftest import REPO_ROOT, free_port, service_missing
from tests.processes import running, spawn, stop

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]


class OwnRedis:
    """A redis-server of the test's own, on a free port, that the test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port, self.directory = free_port(), directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                                        check=False).stdout.strip() == b"PONG")

    def stop(self) -> None:
        assert self.process is not None
        stop(self.process, timeout=10)


def wait_for(ready: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise AssertionError("the service did not come up")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if connection.vendor != "postgresql" or shutil.which("redis-server") is None:
        service_missing("the outage test needs PostgreSQL (DATABASE_URL) and redis-server")
    own = OwnRedis(tmp_path)
    try:
        own.start()
        yield own
    finally:
        if own.process:
            own.stop()


def serve(tmp_path: Path, **env_vars: str) -> Iterator[str]:
    """The arena's ASGI app under uvicorn, on the test database, with the given Redis settings."""
    db, port = connection.settings_dict, free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ARENA_DATA_DIR": str(settings.DATA_DIR), "DB_POOL_MAX_SIZE": "4", **env_vars}
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "log").open("w") as log, \
            running([sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--log-level",
                     "warning"], cwd=REPO_ROOT, env=env, stderr=log):
        wait_for(lambda: httpx.get(url + "/api/models", timeout=2).status_code == 200)
        yield url
    # the server's own log keeps the details (tests/config/test_errors.py); clients never see them


@pytest.fixture
def server(redis: OwnRedis, tmp_path: Path) -> Iterator[str]:
    """Everything on our own Redis: cache, channel layer and broker."""
    yield from serve(tmp_path, REDIS_URL=f"redis://127.0.0.1:{redis.port}/0")


@pytest.fixture
def server_own_broker(redis: OwnRedis, tmp_path: Path) -> Iterator[str]:
    """The cache and the channel layer on the shared Redis; only the broker on ours."""
    yield from serve(tmp_path, REDIS_URL=settings.REDIS_URL, CELERY_BROKER_URL=f"redis://127.0.0.1:{redis.port}/0")


def page(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=20)
    assert client.get("/").status_code == 200
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def test_with_redis_down_writes_answer_503_with_retry_after_and_recover_when_it_returns(
    redis: OwnRedis, server: str
) -> None:
    for name in ("Alpha", "Beta"):
        ArenaModel.objects.create(name=name, state="active", adapter_kind="demo", provider_model="pelican", options={"delay": 0})
    client = page(server)
    first = client.post("/api/battles", json={"prompt": "Before the outage"})
    assert first.status_code == 201

    redis.stop()
    down = client.post("/api/battles", json={"prompt": "During the outage"})
    assert down.status_code == 503 and down.headers["Retry-After"].isdigit()
    assert down.headers["content-type"].startswith("application/json") and "try again" in down.json()["error"]
    assert "Traceback" not in down.text
    assert Battle.objects.count() == 1  # nothing half-written
    state = client.get(f"/api/battles/{first.json()['id']}")
    assert state.status_code in (200, 503) and "Traceback" not in state.text

    redis.start()
    wait_for(lambda: client.post("/api/battles", json={"prompt": "After"}).status_code == 201)
    assert Battle.objects.count() == 2


def test_a_vote_committed_while_the_broker_is_down_is_reported_as_recorded(redis: OwnRedis,
                                                                          server_own_broker: str) -> None:
    a = ArenaModel.objects.create(name="Alpha", state="active", adapter_kind="demo", provider_model="pelican",
                                  options={"delay": 0})
    b = ArenaModel.objects.create(name="Beta", state="active", adapter_kind="demo", provider_model="heron",
                                  options={"delay": 0})
    client = page(server_own_broker)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME]
    battle = Battle.objects.create(model_a=a, model_b=b, session_key=session_key, ip_hash="h",
                                   status=Battle.Status.READY)
    redis.stop()
    vote = client.post(f"/api/battles/{battle.uuid}/vote", json={"outcome": "a"})
    assert vote.status_code == 201, vote.text  # the leaderboard's notification failed after the commit
    assert Vote.objects.filter(battle=battle, outcome="a", counts=True).exists()
