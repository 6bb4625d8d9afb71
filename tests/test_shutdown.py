"""``manage.py arena_run`` (what ``./dev run`` execs) stops cleanly: on SIGTERM (docker stop, systemd) as on Ctrl-C,
it exits with status 0 within a bounded time and leaves no process behind; its beat runs in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port
from tests.processes import in_session, running, serving, wait_until_gone

pytestmark = pytest.mark.embedded

EXIT_SECONDS = 20


def embedded_env(data_dir: Path) -> dict[str, str]:
    """A fresh embedded arena, as tests/e2e/conftest.py starts it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ARENA_DATA_DIR=str(data_dir), ARENA_ADMIN_PASSWORD="shutdown-test", DJANGO_SETTINGS_MODULE="config.settings",
               OMP_NUM_THREADS="1")
    return env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_arena_run_exits_0_on_the_signal_and_leaves_no_process(tmp_path: Path, signum: signal.Signals) -> None:
    port = free_port()
    with (tmp_path / "server.log").open("w") as log, \
            running([sys.executable, "manage.py", "arena_run", "--port", str(port)], cwd=REPO_ROOT,
                    env=embedded_env(tmp_path), stdout=log, stderr=subprocess.STDOUT) as process:
        assert serving(f"http://127.0.0.1:{port}", process, seconds=90), (tmp_path / "server.log").read_text()
        # The worker and beat are threads of the server: it forks nothing that a signal to it alone would miss.
        assert [proc.pid for proc in in_session(process.pid)] == [process.pid]

        started = time.monotonic()
        process.send_signal(signum)  # to the server alone, as docker stop and systemd's main-process mode do
        try:
            status = process.wait(EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"arena_run did not exit within {EXIT_SECONDS} s of {signum.name}")
        left = wait_until_gone(process.pid, seconds=2)
    log_text = (tmp_path / "server.log").read_text()
    assert status == 0, log_text
    assert time.monotonic() - started < EXIT_SECONDS
    assert left == [], f"left running after {signum.name}: {left}"
    assert "Traceback" not in log_text


def test_the_embedded_beat_schedule_reaches_the_in_process_worker(tmp_path: Path) -> None:
    """The sweep (every ARENA_EXPIRE_EVERY_SECONDS) runs in the embedded worker, and stopping ends every thread."""
    script = """
import os, threading, time
import django
django.setup()
from pathlib import Path
from celery import current_app
from celery.signals import task_prerun
from django.core.management import call_command
from arena.embedded import worker_start
from tests.processes import processes

call_command("migrate", verbosity=0)
ran = threading.Event()
task_prerun.connect(lambda sender=None, **kw: sender.name == "arena.answers_expire" and ran.set(), weak=False)
worker = worker_start(current_app, schedule_file=Path(os.environ["ARENA_DATA_DIR"]) / "celerybeat-schedule")
print("swept" if ran.wait(20) else "never swept")
print("stopped" if worker.stop() else "still running")
print("children", sum(1 for proc in processes() if proc.ppid == os.getpid()))
"""
    env = {**embedded_env(tmp_path), "ARENA_EXPIRE_EVERY_SECONDS": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=False, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["swept", "stopped", "children 0"], result.stdout + result.stderr
