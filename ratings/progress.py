"""The terminal progress bar shared by ``python -m ratings`` and the management commands."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]  # (done, total)


class ProgressBar:
    """Draws ``label [#####.....] done/total 1.2s`` on one line of ``stream``, ending it when done.

    Call it as a :data:`Progress` callback; ``label`` may change between calls (one line per label).
    """

    def __init__(self, stream: TextIO, label: str = "", *, width: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.label, self.width, self.clock = stream, label, width, clock
        self.started = clock()

    def __call__(self, done: int, total: int, label: str | None = None) -> None:
        if label is not None and label != self.label:
            self.label, self.started = label, self.clock()
        filled = self.width * min(done, total) // max(total, 1)
        elapsed = self.clock() - self.started
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {elapsed:5.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
