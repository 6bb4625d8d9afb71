"""Load benchmark of the distributed arena: N concurrent page-like clients against a real stack on this machine.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as ``postgres`` and Redis on 127.0.0.1:6379 must be
running; everything stays on loopback)::

    OMP_NUM_THREADS=1 python -m bench.load --battles 50 100 200 [--record --label "..."]

It creates a fresh PostgreSQL database (``arena_load``, dropped again at the end) and migrates it, registers three
offline demo models (personas pelican, heron and ibis, ``delay`` seconds between chunks), and starts the distributed
processes of the Procfile: ``--web`` uvicorn processes (``config.asgi:application``, one port each) and one Celery
worker (``-Q default -P threads``, ``--concurrency`` threads), on Redis database 9 (flushed at the start and the end). There is
no beat process: nothing is swept, a stuck battle simply times out here.

For each N of ``--battles`` it starts N clients at once in one asyncio loop (httpx and ``websockets``), spread over
the web processes round-robin. Each does what static/arena/arena.js does: ``GET /`` (session and CSRF cookies),
``POST /api/battles`` with ``X-CSRFToken``, the websocket ``/ws/battles/<id>/`` with the session cookie and an Origin,
``GET /api/battles/<id>`` once subscribed, numbered chunks applied in order (a gap fetches the state again), a
reconnect with the page's back-off when the socket closes mid-battle, the page's 20-second watchdog fetch, then the
vote once both sides are done. Per N it reports battles completed (both sides done and the vote answered 201),
p50/p99 seconds from the POST to the first text and to both sides done, HTTP 5xx (websocket handshakes included),
socket drops (a socket closed before the battle finished), other client errors by kind, the peak number of
PostgreSQL connections to the database (``pg_stat_activity``, polled every 100 ms; in brackets, every database on
the server), the exceptions in the processes' logs, and the benchmark's own event-loop lag and CPU time, which show
whether the client was the bottleneck. ``--record`` writes the table into docs/benchmarks.md (section "Load:
concurrent battles on the distributed stack", one subsection per ``--label``). ``--commit REV`` runs the servers
from that commit's files (``git archive`` into a temporary folder) instead of the working tree, so that a commit can
be measured unchanged while the working tree moves on.

Every step is bounded (``--timeout`` per battle, ``--deadline`` for the whole run); the processes are stopped and
the database dropped on success, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Origin

if not __package__:  # run as a script: put the repository root first, not this directory
    sys.path[0] = str(Path(__file__).resolve().parents[1])

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
SECTION = "## Load: concurrent battles on the distributed stack"
PERSONAS = ("pelican", "heron", "ibis")
CLOSED = ("done", "failed")
WATCHDOG_SECONDS = 20.0  # arena.js: while generating, fetch the state this often
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 8.0  # arena.js: the socket's reconnect back-off
POLL_SECONDS = 0.1
LOG_GRACE_SECONDS = 6.0  # after a round: a consumer's pending channel-layer read can fail up to 5 s after its socket closed
CLIENT_NICENESS = -5  # the clients stand for browsers on other machines: the servers' CPU use should not delay them
OUTCOMES = ("a", "b")


# ---- the stack ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    """Where the stack runs and how big it is."""

    postgres: str = "postgres://postgres@127.0.0.1:5432/postgres"  # an administrative connection
    database: str = "arena_load"
    redis_url: str = "redis://127.0.0.1:6379/9"
    web: int = 2
    concurrency: int = 32
    delay: float = 0.03
    startup_timeout: float = 90.0
    app: Path = ROOT  # the checkout the server processes run from

    @property
    def database_url(self) -> str:
        return urlsplit(self.postgres)._replace(path="/" + self.database).geturl()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    log_offset: int = 0


@dataclass
class Stack:
    config: StackConfig
    data_dir: Path
    urls: list[str]
    processes: list[Process]


APP_SETTINGS = ("ARENA_", "SECURE_", "CSRF_", "DEBUG", "ALLOWED_HOSTS", "DB_", "REDIS_", "CELERY_", "AXES_",
                "STATIC_ROOT", "LOG_LEVEL", "SILENCED_SYSTEM_CHECKS", "DJANGO_SETTINGS_MODULE")


def child_env(config: StackConfig, data_dir: Path) -> dict[str, str]:
    """The servers' environment: the application's defaults (none of this shell's settings), the stack's addresses,
    and the per-address prompt and vote limits lifted (every client has the same address)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(APP_SETTINGS)}
    env.update(
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        ARENA_DATA_DIR=str(data_dir),
        SECRET_KEY="bench-load-" + "k" * 50,
        ARENA_PROMPTS_PER_IP_PER_HOUR="1000000",
        ARENA_VOTES_PER_IP_PER_HOUR="1000000",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(config.app),
    )
    return env


def database_reset(config: StackConfig, *, create: bool) -> None:
    """Drop the benchmark's database (a leftover of a killed run too) and, if asked, create it empty."""
    with psycopg.connect(config.postgres, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{config.database}"')


async def redis_flush(url: str) -> None:
    client = aioredis.Redis.from_url(url, socket_timeout=10)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def manage(app: Path, env: dict[str, str], *args: str, timeout: float = 180) -> None:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=app, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")


MODELS_CODE = """
import json, os
from arena.models import ArenaModel
for persona in json.loads(os.environ["BENCH_PERSONAS"]):
    ArenaModel.objects.create(name=f"Load {persona}", adapter_kind="demo", provider_model=persona,
                              options={"delay": float(os.environ["BENCH_DELAY"])})
"""


def models_register(app: Path, env: dict[str, str], delay: float) -> None:
    manage(app, {**env, "BENCH_PERSONAS": json.dumps(PERSONAS), "BENCH_DELAY": str(delay)}, "shell", "-c", MODELS_CODE)


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark itself is killed, so no server outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(name: str, command: list[str], app: Path, env: dict[str, str], log_dir: Path) -> Process:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(command, cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True,
                                 preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return Process(name, popen, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning"]


def worker_command(concurrency: int) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default", "-P", "threads",
            "-c", str(concurrency), "-l", "info", "--without-mingle", "--without-gossip",
            "-n", f"bench-load-{os.getpid()}@localhost"]


def wait_web(url: str, process: Process, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited at start:\n{process.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/api/models", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer within the start-up timeout")


def wait_worker(process: Process, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"the worker exited at start:\n{process.log.read_text()[-3000:]}")
        if re.search(r"\bready\.", process.log.read_text(errors="replace")):
            return
        time.sleep(0.2)
    raise RuntimeError("the Celery worker did not report ready within the start-up timeout")


def process_stop(process: Process, timeout: float = 15) -> None:
    if process.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGTERM)
        try:
            process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(10)


def processes_stop(processes: Sequence[Process]) -> None:
    for process in reversed(processes):  # the worker first, then the web processes
        process_stop(process)


@contextlib.contextmanager
def stack(config: StackConfig, *, keep_logs: Path | None = None) -> Iterator[Stack]:
    """The distributed arena on loopback; stopped, and its database dropped, however the block ends."""
    with contextlib.ExitStack() as cleanup:
        data_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="arena-load-")))
        if keep_logs is not None:
            cleanup.callback(_logs_copy, data_dir, keep_logs)
        cleanup.callback(lambda: asyncio.run(redis_flush(config.redis_url)))
        cleanup.callback(database_reset, config, create=False)
        database_reset(config, create=True)
        asyncio.run(redis_flush(config.redis_url))
        env = child_env(config, data_dir)
        manage(config.app, env, "migrate", "--noinput", "-v", "0")
        models_register(config.app, env, config.delay)
        processes: list[Process] = []
        cleanup.callback(processes_stop, processes)
        ports = [free_port() for _ in range(config.web)]
        processes += [spawn(f"web-{i + 1}", web_command(port), config.app, env, data_dir) for i, port in enumerate(ports)]
        processes.append(spawn("worker", worker_command(config.concurrency), config.app, env, data_dir))
        deadline = time.monotonic() + config.startup_timeout
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=False):
            wait_web(url, process, deadline)
        wait_worker(processes[-1], deadline)
        yield Stack(config, data_dir, urls, processes)


def _logs_copy(data_dir: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in data_dir.glob("*.log"):
        shutil.copy(log, target / log.name)


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


# ---- what else is measured during a round ------------------------------------------------------------------------


@dataclass
class Peaks:
    database: int = 0
    server: int = 0
    errors: list[str] = field(default_factory=list)


async def connections_poll(config: StackConfig, peaks: Peaks, stop: asyncio.Event) -> None:
    """Every POLL_SECONDS, the client connections to the benchmark's database and to the whole server."""
    query = ("SELECT count(*) FILTER (WHERE datname = %s), count(*) FROM pg_stat_activity "
             "WHERE backend_type = 'client backend'")
    try:
        async with await psycopg.AsyncConnection.connect(config.postgres, autocommit=True) as conn:
            while not stop.is_set():
                row = await (await conn.execute(query, (config.database,))).fetchone()
                if row is not None:
                    peaks.database, peaks.server = max(peaks.database, row[0]), max(peaks.server, row[1])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    except psycopg.Error as exc:
        peaks.errors.append(f"{type(exc).__name__}: {exc}"[:120])


async def loop_lag(stop: asyncio.Event) -> float:
    """The longest the event loop was late to wake a 50 ms sleep: the client's own saturation."""
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        worst = max(worst, time.perf_counter() - before - 0.05)
    return worst


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|0x[0-9a-f]+", re.I)


def exception_lines(text: str) -> list[str]:
    """The final line of every traceback in a log (of a chain, only the last exception)."""
    found: list[str] = []
    in_traceback = chained = False
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line.strip() and not line[0].isspace():
            if chained:
                found[-1] = line
            else:
                found.append(line)
            in_traceback = chained = False
        elif not in_traceback and line.startswith(CHAIN):
            chained = bool(found)
        elif not in_traceback and line.strip():
            chained = False
    return [_UUID.sub("…", line.strip())[:200] for line in found]


def logs_read(processes: Sequence[Process]) -> Counter[str]:
    """The exceptions each kind of process logged since the last call."""
    counts: Counter[str] = Counter()
    for process in processes:
        data = process.log.read_bytes()
        text, process.log_offset = data[process.log_offset:].decode(errors="replace"), len(data)
        kind = process.name.split("-")[0]
        counts.update(f"{kind}: {line}" for line in exception_lines(text))
    return counts


@dataclass
class Round:
    battles: int
    results: list[BattleResult]
    wall: float
    peaks: Peaks
    lag: float
    bench_cpu: float
    web_cpu: float
    worker_cpu: float
    logged: Counter[str]
    load: float
    exited: list[str] = field(default_factory=list)

    def completed(self) -> int:
        return sum(r.completed for r in self.results)

    def kinds(self, attribute: str) -> Counter[str]:
        return Counter(kind for r in self.results for kind in getattr(r, attribute))


async def round_run(stack: Stack, n: int, *, timeout: float) -> Round:
    stop = asyncio.Event()
    peaks = Peaks()
    poller = asyncio.create_task(connections_poll(stack.config, peaks, stop))
    lag = asyncio.create_task(loop_lag(stop))
    webs = [p for p in stack.processes if p.name.startswith("web")]
    worker = next(p for p in stack.processes if p.name == "worker")
    cpu_before = self_cpu(), sum(cpu_seconds(p.popen.pid) for p in webs), cpu_seconds(worker.popen.pid)
    started = time.perf_counter()
    try:
        results = await battles_run(stack.urls, n, timeout=timeout)
    finally:
        wall = time.perf_counter() - started
        stop.set()
        await asyncio.gather(poller, return_exceptions=True)
    return Round(n, results, wall, peaks, await lag, self_cpu() - cpu_before[0],
                 sum(cpu_seconds(p.popen.pid) for p in webs) - cpu_before[1],
                 cpu_seconds(worker.popen.pid) - cpu_before[2], Counter(), os.getloadavg()[0])


async def settle(config: StackConfig, timeout: float) -> bool:
    """Wait until no answer is pending or streaming (a timed-out round leaves work behind); True if none is."""
    query = "SELECT count(*) FROM arena_answer WHERE status IN ('pending', 'streaming')"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with await psycopg.AsyncConnection.connect(config.database_url, autocommit=True) as conn:
                while time.monotonic() < deadline:
                    row = await (await conn.execute(query)).fetchone()
                    if row is not None and row[0] == 0:
                        return True
                    await asyncio.sleep(0.5)
        except psycopg.OperationalError:  # the server may still be out of connections
            await asyncio.sleep(0.5)
    return False


# ---- the report ------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _pair(values: Sequence[float]) -> str:
    return f"{_seconds(percentile(values, 50))} / {_seconds(percentile(values, 99))}"


TABLE_HEAD = ("| battles | completed | first text p50 / p99 (s) | both done p50 / p99 (s) | HTTP 5xx | socket drops "
              "| other errors | peak PG connections: arena_load (server) | wall (s) |\n"
              "|---|---|---|---|---|---|---|---|---|")


def table_row(r: Round) -> str:
    first = [x.first_text for x in r.results if x.first_text is not None]
    done = [x.done for x in r.results if x.done is not None]
    return (f"| {r.battles} | {r.completed()} | {_pair(first)} | {_pair(done)} | {sum(r.kinds('server_errors').values())} "
            f"| {sum(r.kinds('drops').values())} | {sum(r.kinds('errors').values())} "
            f"| {r.peaks.database} ({r.peaks.server}) | {r.wall:.1f} |")


def _counted(counts: Counter[str], limit: int = 6) -> str:
    if not counts:
        return "none"
    shown = [f"{n}× {kind}" for kind, n in counts.most_common(limit)]
    rest = sum(counts.values()) - sum(n for _, n in counts.most_common(limit))
    return "; ".join(shown) + (f"; {rest} more" if rest else "")


def _drops(r: Round) -> str:
    silences = [s for x in r.results for s in x.silences]
    if not silences:
        return "none"
    return f"{_counted(r.kinds('drops'))}, {min(silences):.0f}–{max(silences):.0f} s after the socket's last message"


def round_notes(r: Round) -> str:
    resyncs = sum(x.resyncs for x in r.results)
    lines = [
        f"- **{r.battles} battles.** 5xx: {_counted(r.kinds('server_errors'))}. Socket drops: {_drops(r)}."
        f" Other errors: {_counted(r.kinds('errors'))}. Fetches after a gap in the chunks: {resyncs}.",
        f"  Exceptions in the logs: {_counted(r.logged, 4)}.",
        f"  CPU seconds: web {r.web_cpu:.1f}, worker {r.worker_cpu:.1f}, this client {r.bench_cpu:.1f}"
        f" (its event loop at most {r.lag * 1000:.0f} ms late); load average after: {r.load:.1f}.",
    ]
    if r.exited:
        lines.append(f"  Processes that exited during the round: {', '.join(r.exited)}.")
    if r.peaks.errors:
        lines.append(f"  The connection poll stopped: {', '.join(r.peaks.errors)}.")
    return "\n".join(lines)


def report(rounds: Sequence[Round]) -> str:
    return "\n".join([TABLE_HEAD, *(table_row(r) for r in rounds), "", *(round_notes(r) for r in rounds)])


@dataclass
class Machine:
    postgres: str = ""
    max_connections: str = ""
    redis: str = ""
    load: float = 0.0

    def describe(self) -> str:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        return (f"{os.cpu_count()} {platform.machine()} cores, {memory:.0f} GB RAM, Python {platform.python_version()}, "
                f"PostgreSQL {self.postgres} (max_connections {self.max_connections}, shared with whatever else runs "
                f"there), Redis {self.redis}; load average {self.load:.1f} at the start")


async def machine_read(config: StackConfig) -> Machine:
    async with await psycopg.AsyncConnection.connect(config.postgres, autocommit=True) as conn:
        version = await (await conn.execute("SHOW server_version")).fetchone()
        limit = await (await conn.execute("SHOW max_connections")).fetchone()
    client = aioredis.Redis.from_url(config.redis_url)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return Machine(str(version[0]) if version else "?", str(limit[0]) if limit else "?",
                   str(info.get("redis_version", "?")), os.getloadavg()[0])


INTRO = """`bench/load.py` starts the distributed stack on one machine, loopback only: a fresh PostgreSQL
database (migrated, dropped at the end), `uvicorn config.asgi:application` web processes on their own ports, one
`celery -A config worker -Q default -P threads` worker, Redis for the channel layer, the broker and the cache, and
three offline demo models (pelican, heron, ibis; a fixed delay between chunks, so that one side streams for two to
four seconds). No beat process runs, so nothing sweeps a stuck answer: its page waits until the benchmark's
per-battle timeout. The application's settings are its defaults (`DB_CONN_MAX_AGE=0`; a leaderboard refresh every
50 counted votes, on the same worker), except for the prompt rate limit, lifted. For each N it starts N page-like
clients at once in one asyncio loop (httpx and `websockets`), round-robin over the web processes; each does what
`static/arena/arena.js` does: `GET /`, `POST /api/battles` with the CSRF header, the websocket with the session
cookie and an Origin, `GET` of the battle once subscribed, numbered chunks applied in order (a gap fetches the state
again), the page's reconnect back-off (0.5 s doubling to 8 s) when the socket closes mid-battle and its 20-second
watchdog fetch, then the vote. Each battle holds two worker threads while it streams, so with C threads about C/2
battles stream at once and the rest wait in the queue: beyond a few dozen battles, most of the time to the first
text is that queue.

*Completed* means both sides done and the vote answered 201. Times are from the `POST` to the first answer text on
the page and to both sides done (p99 is the nearest rank: at 50 battles, the slowest one). *HTTP 5xx* include
websocket handshakes answered 500; *socket drops* are sockets closed before the battle finished (1006: closed
without a close frame; the client then reconnects, so one battle can drop more than once). PostgreSQL connections
are sampled every 100 ms in `pg_stat_activity` (client backends of the benchmark's database; in brackets, of the
whole server, whose `max_connections` other work on the machine shares), so a spike shorter than that can be
missed: "too many clients" errors mean the limit was reached whatever the sample says. The exceptions are the last
line of each traceback in the processes' logs. The client runs at a higher CPU priority than the servers (they share
the machine's cores, where real browsers would not); its CPU time and event-loop lag show whether it, rather than
the arena, was the bottleneck."""


def run_section(label: str, machine: Machine, config: StackConfig, command: str, body: str, when: datetime,
                code: str) -> str:
    return (f"### {label}\n\n"
            f"Run of {when:%H:%M} UTC, {when:%Y-%m-%d}; {machine.describe()}. Stack: {config.web} uvicorn "
            f"processes, one Celery worker with {config.concurrency} threads, demo delay {config.delay} s between "
            f"chunks; server code: {code}. Command (from the repository root):\n\n```\n{command}\n```\n\n{body}\n")


def subsections(lines: Sequence[str]) -> list[str]:
    """The ``### `` subsections of a section's lines, each as text; what comes before the first is left out."""
    starts = [i for i, line in enumerate(lines) if line.startswith("### ")]
    return ["\n".join(lines[a:b]).strip("\n") for a, b in zip(starts, [*starts[1:], len(lines)], strict=False)]


def section_record(doc: str, label: str, subsection: str) -> str:
    """The document with the load section's introduction brought up to date and the run's subsection replaced (same
    label) or added; the other runs and the rest of the document are kept."""
    lines = doc.rstrip("\n").split("\n")
    start = lines.index(SECTION) if SECTION in lines else len(lines)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    runs = subsections(lines[start + 1:end])
    heading = f"### {label}"
    mine = [i for i, run in enumerate(runs) if run.split("\n", 1)[0] == heading]
    if mine:
        runs[mine[0]] = subsection.strip("\n")
    else:
        runs.append(subsection.strip("\n"))
    text = "\n\n".join(["\n".join(lines[:start]).rstrip("\n"), SECTION, INTRO, *runs]) + "\n"
    return text + ("\n" + "\n".join(lines[end:]) + "\n" if end < len(lines) else "")


# ---- the command -----------------------------------------------------------------------------------------------


async def warm_up(stack: Stack, timeout: float) -> None:
    """One battle per web process, not reported: imports, first queries and the worker's first tasks."""
    results = await battles_run(stack.urls, len(stack.urls), timeout=timeout)
    failed = [r for r in results if not r.completed]
    if failed:
        raise RuntimeError(f"the warm-up battles failed: {failed}")


def client_priority() -> None:
    """Run the clients ahead of the servers (they share this machine's cores); the servers keep their priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, CLIENT_NICENESS)


async def rounds_run(stack: Stack, counts: Sequence[int], *, timeout: float, deadline: float) -> list[Round]:
    client_priority()
    await warm_up(stack, timeout)
    rounds: list[Round] = []
    for n in counts:
        left = deadline - time.monotonic() - 30  # keep time to stop the processes and drop the database
        if left < 20:
            print(f"skipping {n} battles: the global deadline is near", file=sys.stderr)
            break
        print(f"{n} concurrent battles …", file=sys.stderr, flush=True)
        result = await round_run(stack, n, timeout=min(timeout, left))
        if not await settle(stack.config, min(60.0, max(deadline - time.monotonic() - 30, 1))):
            print("  some answers were still open after the round", file=sys.stderr)
        await asyncio.sleep(LOG_GRACE_SECONDS)
        result.logged = logs_read(stack.processes)
        result.exited = [f"{p.name} (exit {p.popen.returncode})" for p in stack.processes if p.popen.poll() is not None]
        print(f"  {table_row(result)}", file=sys.stderr, flush=True)
        rounds.append(result)
    return rounds


def commit_export(revision: str, scope: contextlib.ExitStack) -> Path:
    """A throw-away copy of one commit's files (``git archive``; the repository is left alone)."""
    target = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="arena-load-code-")))
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, capture_output=True, timeout=60,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, timeout=60, check=True)
    return target


def commit_name(revision: str) -> str:
    result = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                            timeout=10, check=False)
    return result.stdout.strip() or revision


def files_limit_raise() -> None:
    """Two sockets per battle, and the processes inherit the limit: raise the open-file limit to the maximum."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _interrupted(signum: int, frame: object) -> None:
    raise SystemExit(f"bench.load: stopped by signal {signum}")


def _deadline_passed(signum: int, frame: object) -> None:
    raise SystemExit("bench.load: the global deadline passed; stopping")


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--battles", type=int, nargs="+", default=[50, 100, 200], help="concurrent battles per round")
    parser.add_argument("--web", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--concurrency", type=int, default=32, help="Celery worker threads (the Procfile's default)")
    parser.add_argument("--delay", type=float, default=0.03, help="demo models: seconds between chunks")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one battle may take")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds the whole run may take")
    parser.add_argument("--database", default="arena_load")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--postgres", default=StackConfig.postgres, help="an administrative PostgreSQL URL")
    parser.add_argument("--commit", help="run the server processes from this commit (git archive), not the working tree")
    parser.add_argument("--logs", type=Path, help="copy the processes' logs into this folder")
    parser.add_argument("--record", action="store_true", help="write the table into docs/benchmarks.md")
    parser.add_argument("--label", default="Latest run", help="the subsection --record writes (replaced if present)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    deadline = time.monotonic() + args.deadline
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGALRM, _deadline_passed)
    signal.alarm(int(args.deadline) + 60)  # the last resort, should a step hang past its own timeout
    files_limit_raise()
    config = StackConfig(postgres=args.postgres, database=args.database, redis_url=args.redis, web=args.web,
                         concurrency=args.concurrency, delay=args.delay)
    machine = asyncio.run(machine_read(config))
    when = datetime.now(UTC)
    try:
        with contextlib.ExitStack() as scope:
            if args.commit:
                config = replace(config, app=commit_export(args.commit, scope))
            running = scope.enter_context(stack(config, keep_logs=args.logs))
            rounds = asyncio.run(rounds_run(running, args.battles, timeout=args.timeout, deadline=deadline))
    finally:
        signal.alarm(0)
    body = report(rounds)
    print(f"\n{machine.describe()}\n\n{body}")
    if args.record:
        command = "OMP_NUM_THREADS=1 python -m bench.load " + shlex.join(sys.argv[1:] if argv is None else argv)
        code = f"commit {commit_name(args.commit)}" if args.commit else "the working tree"
        subsection = run_section(args.label, machine, config, command, body, when, code)
        BENCHMARKS_MD.write_text(section_record(BENCHMARKS_MD.read_text(), args.label, subsection))
        print(f"\nrecorded in {BENCHMARKS_MD.relative_to(ROOT)} under “{args.label}”")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench.load: interrupted; the processes were stopped and the database dropped")
