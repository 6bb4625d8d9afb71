"""The distributed stack bench/load.py runs against: a fresh PostgreSQL database, uvicorn and a Celery worker."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
PERSONAS = ("pelican", "heron", "ibis")


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
                              options={"delay": float(os.environ["BENCH_DELAY"])}, state="active")
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
