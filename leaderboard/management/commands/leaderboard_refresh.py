from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leaderboard.ledger import ledger_forget
from leaderboard.snapshots import snapshot_refresh
from ratings.progress import ProgressBar


class Command(BaseCommand):
    help = "Recompute the leaderboard now: one new run of immutable snapshots, one per view with enough votes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rounds", type=int, help="Bootstrap rounds (default ARENA_SNAPSHOT_ROUNDS).")
        parser.add_argument("--seed", type=int, help="Bootstrap seed (default ARENA_SNAPSHOT_SEED).")
        parser.add_argument("--force", action="store_true", help="Compute even if no vote arrived since the last run.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")
        parser.add_argument("--recount", action="store_true",
                            help="Judge every vote again from a full count (the ledger is rebuilt): after votes were "
                                 "changed without arena.models.votes_changed, e.g. by SQL. Implies --force.")

    def handle(self, *args: Any, rounds: int | None, seed: int | None, force: bool, no_progress: bool,
               recount: bool = False, **options: Any) -> None:
        if recount:
            ledger_forget()
            force = True
        bar = ProgressBar(sys.stderr) if not no_progress and sys.stderr.isatty() else None
        progress = (lambda view, done, total: bar(done, total, label=f"{view[:20]:<20}")) if bar else None
        snapshots = snapshot_refresh(rounds=rounds, seed=seed, force=force, progress=progress)
        if not snapshots:
            self.stdout.write("Nothing to compute: no counted votes, or none since the last snapshot (use --force).")
            return
        for snapshot in snapshots:
            self.stdout.write(f"{snapshot.title}: {snapshot.votes} votes, {len(snapshot.result['rows'])} models "
                              f"(snapshot {snapshot.pk})")
        first = snapshots[0]
        self.stdout.write(self.style.SUCCESS(f"Computed run {first.run} at {first.computed_at:%Y-%m-%d %H:%M:%S} UTC."))
