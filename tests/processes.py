"""Processes the tests start (servers, workers, Redis): started so that none outlives its test or the run.

Each starts in a session (and process group) of its own and carries ``SESSION_MARKER`` in its environment, which
every process it starts inherits; ``stop`` ends it and anything left in its group, and ``tests/conftest.py``
looks for marked processes still alive when the run ends. Reads ``/proc`` (Linux), so it needs no psutil.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Set once per pytest run (tests/conftest.py): a value only this run's processes carry.
SESSION_MARKER = "ARENA_TEST_RUN"
STOP_SECONDS = 20.0


@dataclass(frozen=True)
class Proc:
    """One live process as /proc shows it."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    command: str


def processes() -> list[Proc]:
    """Every live process (zombies are dead: left out) that /proc lets us read."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses, so split after the last ")".
        state, ppid, pgid, sid = stat[stat.rindex(")") + 2:].split()[:4]
        if state != "Z":
            found.append(Proc(int(entry.name), int(ppid), int(pgid), int(sid), command))
    return found


def marked(value: str) -> list[Proc]:
    """Live processes whose environment carries ``SESSION_MARKER=value``, this process left out."""
    needle = f"{SESSION_MARKER}={value}".encode()
    found = []
    for proc in processes():
        if proc.pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ:
            found.append(proc)
    return found


def in_session(sid: int) -> list[Proc]:
    """Live processes of session ``sid``: what a process started with ``spawn`` left, orphans included."""
    return [proc for proc in processes() if proc.sid == sid]


def spawn(args: Sequence[str], *, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[Any]:
    """Start ``args`` in a new session, so that its whole process group can be found and stopped later."""
    environment = dict(os.environ if env is None else env)
    if SESSION_MARKER in os.environ:
        environment[SESSION_MARKER] = os.environ[SESSION_MARKER]
    return subprocess.Popen(list(args), env=environment, start_new_session=True, **popen)


def stop(process: subprocess.Popen[Any], timeout: float = STOP_SECONDS) -> int:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL the process group: nothing of it is left running.

    Returns the exit status (negative: the signal that ended it).
    """
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    group_kill(process.pid)
    return process.wait(timeout)


def group_kill(pgid: int) -> None:
    """SIGKILL whatever is left of process group ``pgid`` (a group of ``spawn``'s: the leader's pid)."""
    with contextlib.suppress(ProcessLookupError):  # the group is already empty
        os.killpg(pgid, signal.SIGKILL)


@contextmanager
def running(args: Sequence[str], **options: Any) -> Iterator[subprocess.Popen[Any]]:
    """``spawn`` for the body of a ``with``, then ``stop``, even when the body fails or a wait in it times out."""
    process = spawn(args, **options)
    try:
        yield process
    finally:
        stop(process)


def serving(url: str, process: subprocess.Popen[Any], seconds: float) -> bool:
    """Wait until the server at ``url`` answers its page with a 200; False if it exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return True
        time.sleep(0.3)
    return False


def wait_until_gone(sid: int, seconds: float) -> list[Proc]:
    """Wait up to ``seconds`` for session ``sid`` to empty; returns what is still alive."""
    deadline = time.monotonic() + seconds
    while (alive := in_session(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive
