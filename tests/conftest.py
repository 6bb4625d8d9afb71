import contextlib
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.processes import SESSION_MARKER, Proc, group_kill, marked

# ./dev test sets this so that a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("ARENA_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ARENA_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "data"


@pytest.fixture
def sample_data() -> Path:
    """The data shipped in data/: the LLMFAO crowd votes and their published reference scores.

    LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com Crowdsourced LLM Benchmark
    (CC BY 4.0); see data/README.md.
    """
    assert (SAMPLE_DATA / "llmfao_battles.json").is_file(), f"{SAMPLE_DATA} is missing its LLMFAO file"
    return SAMPLE_DATA


# How long the end of the run waits for processes the tests stopped to finish exiting before calling them left behind.
LEFTOVER_GRACE_SECONDS = 10.0


def pytest_configure(config: pytest.Config) -> None:
    """Mark this run: every process the tests start inherits the mark (tests/processes.py), orphans included."""
    os.environ[SESSION_MARKER] = uuid.uuid4().hex


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started is still alive: an arena_run, a worker, a Redis of a test's own.

    Only processes carrying this run's mark count, so the shared PostgreSQL and Redis (started before the run,
    by ./dev or the system) are never flagged. Each one found is named, then killed with its process group.
    """
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while (left := marked(os.environ[SESSION_MARKER])) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "processes left behind (killed now; the run fails)", red=True, bold=True)
        for proc in left:
            reporter.write_line(f"pid {proc.pid} (parent {proc.ppid}, group {proc.pgid}): {proc.command}", red=True)
    for proc in left:
        leftover_kill(proc)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def leftover_kill(proc: Proc) -> None:
    """SIGKILL a process left behind with its group, unless that group is pytest's own (then only the process)."""
    if proc.pgid != os.getpgid(0):
        group_kill(proc.pgid)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
