"""The embedded default: a Celery worker in threads of the web process, on the memory broker.

The task code path is the same as with real workers; only the transport differs.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery


def worker_start(app: Celery, *, concurrency: int = 8, queues: tuple[str, ...] = ("default", "gpu")) -> Any:
    """Start a thread-pool worker consuming ``queues`` in a daemon thread; return the worker."""
    worker = app.WorkController(
        concurrency=concurrency,
        pool="threads",
        queues=list(queues),
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
    )
    threading.Thread(target=worker.start, name="embedded-celery", daemon=True).start()
    return worker
