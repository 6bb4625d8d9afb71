"""Read-side queries shared by the leaderboard page, the exports, the API and the refresh task."""

from __future__ import annotations

import re
import uuid

from django.conf import settings

from arena.errors import NotFound

from .models import Snapshot

VIEW_KEY = re.compile(r"^(overall|style_control|multi_turn|long_prompt|code|vision|language:[A-Za-z0-9_-]{1,16})$")


def snapshot_latest(view: str = "overall") -> Snapshot | None:
    """The newest snapshot of a view, None if there is none."""
    return Snapshot.objects.filter(view=view).first()


def snapshot_published_latest(view: str = "overall") -> Snapshot | None:
    """The newest published snapshot of a view (kept forever; see leaderboard/retention.py), None if there is none."""
    return Snapshot.objects.filter(view=view, published=True).first()


def snapshot_latest_or_404(view: str) -> Snapshot:
    """The newest snapshot of a view, or NotFound saying why there is none."""
    if not VIEW_KEY.match(view):
        raise NotFound(f"unknown view {view!r}; views are overall, style_control, multi_turn, long_prompt, code, "
                       "vision and language:<code>")
    snapshot = snapshot_latest(view)
    if snapshot is not None:
        return snapshot
    if not Snapshot.objects.exists():
        raise NotFound("no votes have been counted yet, so there is no leaderboard")
    raise NotFound(f"no snapshot of view {view!r}: fewer than {settings.ARENA_CATEGORY_MIN_VOTES} counted votes "
                   "in it so far")


def snapshot_or_404(pk: int) -> Snapshot:
    snapshot = Snapshot.objects.filter(pk=pk).first()
    if snapshot is None:
        raise NotFound(f"no snapshot {pk}")
    return snapshot


def snapshot_run_views(run: uuid.UUID) -> list[Snapshot]:
    """The snapshots computed together in one run, without their results (enough for the page's tabs)."""
    return list(Snapshot.objects.filter(run=run).only("pk", "view", "title", "votes", "run").order_by("pk"))
