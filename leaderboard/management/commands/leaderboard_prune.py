from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leaderboard.retention import snapshot_prune


class Command(BaseCommand):
    help = ("Delete superseded snapshots that were never published and are older than ARENA_SNAPSHOT_KEEP_HOURS "
            "(see leaderboard/retention.py); published snapshots and the current runs are always kept.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep-hours", type=int, help="Keep this many hours (default ARENA_SNAPSHOT_KEEP_HOURS).")
        parser.add_argument("--dry-run", action="store_true", help="Only say what would be deleted.")

    def handle(self, *args: Any, keep_hours: int | None, dry_run: bool, **options: Any) -> None:
        pruned = snapshot_prune(keep_hours=keep_hours, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {pruned.snapshots} snapshot(s) of {pruned.runs} run(s).")
