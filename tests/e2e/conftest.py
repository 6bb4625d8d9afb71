"""Real-browser tests: the embedded arena (the README's run command) in a subprocess, Debian's Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, service_missing
from tests.processes import running, serving

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "e2e-admin-password"


class Arena:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Arena]:
    """A fresh ``arena_run`` for the test module, with the module's ``ARENA_ENV`` settings if it has any."""
    data_dir = tmp_path_factory.mktemp("arena-data")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ARENA_DATA_DIR=str(data_dir), ARENA_ADMIN_PASSWORD=ADMIN_PASSWORD, DJANGO_SETTINGS_MODULE="config.settings")
    env.update(getattr(request.module, "ARENA_ENV", {}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(data_dir / "server.log", "w") as log, \
            running([sys.executable, "manage.py", "arena_run", "--port", str(port)], cwd=ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT) as process:
        if not serving(url, process, seconds=90):
            log.flush()
            pytest.fail("the arena did not start:\n" + (data_dir / "server.log").read_text())
        yield Arena(url, env)
    # running() stopped it, and whatever it left in its process group, even if the wait above failed.


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        service_missing(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, arena: Arena) -> Iterator[Any]:
    context = browser.new_context(base_url=arena.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"


class FakeOpenAI(BaseHTTPRequestHandler):
    """A local server speaking OpenAI's streaming chat-completions format."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("Hello", " from", " the local", " server."):
            chunk = {"id": "c1", "object": "chat.completion.chunk", "model": body["model"],
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.02)
        final = {"id": "c1", "object": "chat.completion.chunk", "model": body["model"],
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}
        self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def openai_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
