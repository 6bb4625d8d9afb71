from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from arena.imports import ImportSummary, battles_import
from ratings.progress import ProgressBar

PROBLEMS_SHOWN = 20


class Command(BaseCommand):
    help = ("Import battles from a FastChat clean-battle file (.json list, .jsonl or .csv) into the database, "
            "creating models as needed; importing the same file again skips what is already there.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The battle file.")
        parser.add_argument("--source", help="Where the battles come from (default: the file's base name).")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args: Any, file: str, source: str | None, no_progress: bool, **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        draw = not no_progress and sys.stderr.isatty()
        try:
            progress = ProgressBar(sys.stderr, "importing") if draw else self._plain
            summary = battles_import(path, source=source or path.stem, progress=progress)
        except (OSError, ValueError) as error:
            raise CommandError(f"{file}: {error}") from error
        self._report(file, summary)

    def _plain(self, done: int, total: int) -> None:
        if done == total or done % 10000 < 1000:
            self.stderr.write(f"imported {done}/{total} records")

    def _report(self, file: str, summary: ImportSummary) -> None:
        for problem in summary.problems[:PROBLEMS_SHOWN]:
            self.stderr.write(f"{file}:{problem.line}: rejected: {problem.reason}")
        if len(summary.problems) > PROBLEMS_SHOWN:
            self.stderr.write(f"{file}: {len(summary.problems) - PROBLEMS_SHOWN} more lines rejected")
        rejected = sum(summary.rejected.values())
        self.stdout.write(f"Created {summary.created} battles, skipped {summary.skipped} already imported, "
                          f"rejected {rejected}.")
        for reason, count in summary.rejected.most_common():
            self.stdout.write(f"  rejected {count}: {reason}")
        if summary.models_created:
            self.stdout.write(f"New models (paused, no adapter): {', '.join(summary.models_created)}")
        self.stdout.write(self.style.SUCCESS("Done. Run `manage.py leaderboard_refresh` to recompute the leaderboard."))
