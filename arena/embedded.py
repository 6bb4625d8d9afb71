"""The embedded default: a Celery worker in threads of the web process, on the memory broker.

The task code path is the same as with real workers; only the transport differs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from celery import Celery


def worker_start(
    app: Celery, *, schedule_file: Path, concurrency: int = 8, queues: tuple[str, ...] = ("default", "gpu")
) -> Any:
    """Start a thread-pool worker consuming ``queues``, with the beat schedule, in a daemon thread."""
    worker = app.WorkController(
        concurrency=concurrency,
        pool="threads",
        queues=list(queues),
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        beat=True,  # the leaderboard's scheduled refresh
        schedule_filename=str(schedule_file),
        loglevel="WARNING",
    )
    threading.Thread(target=worker.start, name="embedded-celery", daemon=True).start()
    return worker
