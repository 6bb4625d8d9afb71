"""One page-like client of bench/load.py: what static/arena/arena.js does, over httpx and websockets."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Origin

CLOSED = ("done", "failed")
WATCHDOG_SECONDS = 20.0  # arena.js: while generating, fetch the state this often
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 8.0  # arena.js: the socket's reconnect back-off
OUTCOMES = ("a", "b")


# ---- one page --------------------------------------------------------------------------------------------------


@dataclass
class BattleResult:
    completed: bool = False
    first_text: float | None = None  # seconds from the POST to the first answer text on the page
    done: float | None = None  # seconds from the POST to both sides done
    server_errors: list[str] = field(default_factory=list)  # HTTP 5xx, by step
    drops: list[str] = field(default_factory=list)  # sockets closed before the battle finished, by close code
    silences: list[float] = field(default_factory=list)  # for each drop, seconds since the socket's last message
    errors: list[str] = field(default_factory=list)  # everything else, by kind
    resyncs: int = 0  # state fetches after a gap in the numbered chunks


class Page:
    """The page's view of one battle, merged as static/arena/arena.js merges it."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.lost_text = 0  # answers whose streamed text differed from the final one

    def answer(self, turn: Any, side: Any) -> dict[str, Any] | None:
        found = next((t for t in self.state["turns"] if t["index"] == turn), None)
        return found["answers"].get(side) if found else None

    def apply(self, event: dict[str, Any]) -> bool:
        """Merge one websocket event; False when a chunk is missing and the state must be fetched again."""
        answer = self.answer(event.get("turn"), event.get("side"))
        if answer is None:
            return True
        if event["type"] == "chunk":
            seq = answer.get("seq") or 0
            if answer["status"] in CLOSED or event["seq"] <= seq:
                return True
            if event["seq"] > seq + 1:
                return False
            answer.update(text=answer["text"] + event["text"], seq=event["seq"], status="streaming")
        elif event["type"] == "side_done":
            if answer["status"] == "streaming" and answer["text"] and answer["text"] != event["text"]:
                self.lost_text += 1
            answer.update(status=event["status"], text=event["text"], error=event.get("error", ""), seq=None)
            self.state["status"] = event.get("battle_status", self.state["status"])
        return True

    def last_answers(self) -> list[dict[str, Any]]:
        return list(self.state["turns"][-1]["answers"].values())

    @property
    def text_seen(self) -> bool:
        return any(a["text"] for a in self.last_answers())

    @property
    def done(self) -> bool:
        """Both sides have finished or failed."""
        return all(a["status"] in CLOSED for a in self.last_answers())

    @property
    def finished(self) -> bool:
        """The page has nothing left to wait for: both sides closed and the battle no longer generating."""
        return self.done and self.state["status"] != "generating"

    def failure(self) -> str:
        return "; ".join(a.get("error") or "failed" for a in self.last_answers() if a["status"] == "failed")


class PageClient:
    """One browser tab: the requests and the websocket of static/arena/arena.js for one battle."""

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport, *, prompt: str, outcome: str,
                 timeout: float) -> None:
        self.origin = url
        self.http = httpx.AsyncClient(base_url=url, transport=transport, trust_env=False,
                                      timeout=httpx.Timeout(timeout), headers={"Accept": "application/json"})
        self.prompt, self.outcome, self.timeout = prompt, outcome, timeout
        self.result = BattleResult()
        self.step = "start"
        self.started = self.last_message = self.last_resync = 0.0
        self.battle_id = ""
        self.page: Page | None = None
        self.voted = False

    async def run(self) -> BattleResult:
        try:
            async with asyncio.timeout(self.timeout):
                await self.battle()
        except TimeoutError:
            self.result.errors.append(f"timeout ({self.timeout:.0f} s) during {self.step}")
        finally:
            await self.http.aclose()
        return self.result

    async def battle(self) -> None:
        if await self.call("GET", "/", "GET /") is None:
            return
        self.started = time.perf_counter()
        created = await self.call("POST", "/api/battles", "POST /api/battles", {"prompt": self.prompt}, expect=201)
        if created is None:
            return
        self.page = Page(created.json())
        self.battle_id = self.page.state["id"]
        await self.stream()

    async def call(self, method: str, path: str, step: str, body: Any = None, expect: int = 200) -> httpx.Response | None:
        """One request as the page's ``api()`` sends it; the response if it has the expected status."""
        self.step = step
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken") or "", "Origin": self.origin} if method == "POST" else {}
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.result.errors.append(f"{step}: {type(exc).__name__}")
            return None
        if response.status_code >= 500:
            self.result.server_errors.append(f"{step}: {response.status_code}")
        elif response.status_code != expect:
            self.result.errors.append(f"{step}: {response.status_code} {_error_text(response)}")
        return response if response.status_code == expect else None

    async def stream(self) -> None:
        """Subscribe, fetch, apply chunks; reconnect like the page until both sides are done; then vote."""
        delay = RECONNECT_FIRST
        while not self.page_done:
            self.step = "websocket handshake"
            try:
                async with self.socket() as ws:
                    delay = RECONNECT_FIRST
                    await self.resync()
                    await self.listen(ws)
                    if self.page_done:
                        await self.vote()  # the page votes with the socket open, then closes it
            except InvalidStatus as exc:
                status = exc.response.status_code
                kinds = self.result.server_errors if status >= 500 else self.result.errors
                kinds.append(f"websocket handshake: {status}")
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.result.errors.append(f"websocket {self.step}: {type(exc).__name__}")
            if self.page_done:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)
            if time.perf_counter() - self.last_resync >= WATCHDOG_SECONDS:
                await self.resync()
        await self.vote()

    def socket(self) -> connect:
        scheme_host = self.origin.replace("http://", "ws://", 1)
        cookie = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        return connect(f"{scheme_host}/ws/battles/{self.battle_id}/", origin=Origin(self.origin),
                       additional_headers={"Cookie": cookie}, proxy=None, open_timeout=self.timeout,
                       ping_interval=None, max_queue=None, close_timeout=5)

    async def listen(self, ws: ClientConnection) -> None:
        self.last_message = time.perf_counter()
        while not self.page_done:
            self.step = "waiting for events"
            try:  # the page's watchdog: while generating, fetch the state every WATCHDOG_SECONDS
                async with asyncio.timeout(max(self.last_resync + WATCHDOG_SECONDS - time.perf_counter(), 0)):
                    raw = await ws.recv()
            except TimeoutError:
                await self.resync()
                continue
            except ConnectionClosed:
                silent = time.perf_counter() - self.last_message
                self.result.drops.append(f"close code {ws.close_code}")
                self.result.silences.append(silent)
                return
            self.last_message = time.perf_counter()
            if not self.merge(json.loads(raw)):
                self.result.resyncs += 1
                await self.resync()

    def merge(self, event: dict[str, Any]) -> bool:
        assert self.page is not None
        merged = self.page.apply(event)
        self.progress()
        return merged

    async def resync(self) -> None:
        self.last_resync = time.perf_counter()
        response = await self.call("GET", f"/api/battles/{self.battle_id}", "GET /api/battles/<id>")
        if response is not None and self.page is not None:
            fresh = response.json()
            if fresh.get("id") == self.battle_id:
                self.page.state = fresh
        self.progress()

    def progress(self) -> None:
        if self.page is None:
            return
        now = time.perf_counter() - self.started
        if self.result.first_text is None and self.page.text_seen:
            self.result.first_text = now
        if self.result.done is None and self.page.done:
            self.result.done = now

    @property
    def page_done(self) -> bool:
        """Like the page, wait for the battle's status too: a fetch can see both answers closed before it moves on,
        and the event that moves it is then still to be read."""
        return self.page is not None and self.page.finished

    async def vote(self) -> None:
        if self.voted or self.page is None:
            return
        self.voted = True
        if self.page.lost_text:
            self.result.errors.append("streamed text differed from the final answer")
        if self.page.state["status"] != "ready":
            self.result.errors.append(f"battle {self.page.state['status']}: {self.page.failure()}"[:160])
            return
        path = f"/api/battles/{self.battle_id}/vote"
        voted = await self.call("POST", path, "POST /api/battles/<id>/vote", {"outcome": self.outcome}, expect=201)
        self.result.completed = voted is not None


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:100]
    except ValueError:
        return ""


async def battles_run(urls: Sequence[str], n: int, *, timeout: float) -> list[BattleResult]:
    """N pages at once, round-robin over the web processes, each with its own connection pool as a browser has.

    (One pool shared by hundreds of pages costs httpcore time in proportion to pages times connections on every
    request: the client became the bottleneck.) Idle connections are not reused after 2 s: uvicorn closes them after
    5 s, and where a browser would retry a request that raced that close, httpx reports an error that is the
    client's, not the arena's. One TLS context serves every pool (none is used on loopback), so no page loads
    certificates.
    """
    tls = ssl.create_default_context()
    limits = httpx.Limits(max_connections=6, max_keepalive_connections=6, keepalive_expiry=2.0)
    pages = [PageClient(urls[i % len(urls)], httpx.AsyncHTTPTransport(verify=tls, limits=limits, retries=0),
                        prompt=f"Tell me about rivers and deltas, reader {i}", outcome=OUTCOMES[i % 2], timeout=timeout)
             for i in range(n)]
    return list(await asyncio.gather(*(page.run() for page in pages)))
