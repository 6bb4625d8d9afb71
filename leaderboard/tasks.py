"""Recomputing the leaderboard after every N counted votes and on a schedule; pruning superseded snapshots."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from arena.models import Vote

from .retention import snapshot_prune
from .selectors import snapshot_latest
from .snapshots import snapshot_refresh
from .voters import vote_check

logger = logging.getLogger(__name__)
LOCK_KEY = "leaderboard:refreshing"
LOCK_SECONDS = 1800


@shared_task(name="leaderboard.refresh", ignore_result=True)
def leaderboard_refresh() -> None:
    """Compute a new run of snapshots unless one is already being computed or nothing changed."""
    if not cache.add(LOCK_KEY, 1, LOCK_SECONDS):
        logger.info("a leaderboard refresh is already running; skipping")
        return
    try:
        snapshots = snapshot_refresh()
        logger.info("leaderboard refreshed: %d view(s)", len(snapshots))
    finally:
        cache.delete(LOCK_KEY)


@shared_task(name="leaderboard.vote_counted", ignore_result=True)
def leaderboard_vote_counted(vote_id: int | None = None) -> None:
    """After a counted vote: check its voter (leaderboard/voters.py), then refresh once ARENA_SNAPSHOT_EVERY_VOTES
    new ones have come in since the last run."""
    if vote_id is not None and settings.ARENA_VOTER_CHECKS:
        findings = vote_check(vote_id)
        if findings:
            logger.info("vote %s: anomalous voter (%s); its votes no longer count", vote_id,
                        ", ".join(sorted({f.signal for f in findings})))
    latest = snapshot_latest()
    since = Vote.objects.filter(counts=True)
    if latest is not None and latest.vote_id_max is not None:
        since = since.filter(pk__gt=latest.vote_id_max)
    if since.count() >= settings.ARENA_SNAPSHOT_EVERY_VOTES:
        leaderboard_refresh()


@shared_task(name="leaderboard.prune", ignore_result=True)
def leaderboard_prune() -> None:
    """Delete superseded, unpublished snapshots older than ARENA_SNAPSHOT_KEEP_HOURS (see leaderboard/retention.py)."""
    pruned = snapshot_prune()
    if pruned.snapshots:
        logger.info("leaderboard pruned: %d run(s), %d snapshot(s)", pruned.runs, pruned.snapshots)
