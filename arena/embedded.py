"""The embedded default: a Celery worker and beat in threads of the web process, on the memory broker.

The task code path is the same as with real workers; only the transport differs.

Beat runs in a thread, not in the process Celery's ``beat=True`` option forks: the memory broker lives in this
process, so a forked beat would send its schedule (the answers sweep, the leaderboard refresh) to a copy of the
broker no worker reads, and the forked child would outlive a web process stopped with SIGTERM. With both in
threads, nothing outlives the process, and ``EmbeddedWorker.stop`` ends them through Celery's own shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import EmbeddedService

logger = logging.getLogger(__name__)

STOP_SECONDS = 10.0  # how long a stop waits for running tasks (a streaming answer) before giving up on them


class EmbeddedWorker:
    """A thread-pool worker and its beat, each in a daemon thread of this process."""

    def __init__(self, worker: Any, beat: Any) -> None:
        self.worker = worker
        self.beat = beat
        self.threads = [threading.Thread(target=worker.start, name="embedded-celery", daemon=True), beat]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = STOP_SECONDS) -> bool:
        """Celery's warm shutdown: beat stops sending, the worker finishes the tasks it runs and stops consuming.

        Returns False if that took longer than ``timeout`` seconds; the threads are daemons, so the process can
        still exit, and an answer left streaming is failed by the sweep at the next start (arena/reaper.py).
        """
        deadline = time.monotonic() + timeout
        self.beat.service.stop(wait=False)
        # WorkController.stop waits for running tasks without a bound: run it aside and wait up to the deadline.
        stopper = threading.Thread(target=self.worker.stop, name="embedded-celery-stop", daemon=True)
        stopper.start()
        for thread in (stopper, *self.threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in (stopper, *self.threads))
        if not stopped:
            logger.warning("The in-process worker did not stop within %.0f s; leaving its tasks unfinished.", timeout)
        return stopped


def worker_start(
    app: Celery, *, schedule_file: Path, concurrency: int = 8, queues: tuple[str, ...] = ("default", "gpu")
) -> EmbeddedWorker:
    """Start a thread-pool worker consuming ``queues`` and the beat schedule, each in a daemon thread."""
    worker = app.WorkController(
        concurrency=concurrency,
        pool="threads",
        queues=list(queues),
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
    )
    # The leaderboard's scheduled refresh and the answers sweep; max_interval bounds how long a stop waits for it.
    beat = EmbeddedService(app, thread=True, schedule_filename=str(schedule_file))
    embedded = EmbeddedWorker(worker, beat)
    embedded.start()
    return embedded
