"""Snapshot retention: storage stays bounded, and a snapshot anyone can cite is never deleted.

A refresh writes one run (a snapshot per view) after every ``ARENA_SNAPSHOT_EVERY_VOTES`` counted
votes, so runs pile up quickly; most are replaced minutes later. The rule:

1. A run is **published** when it is the first run of its UTC day (decided when it is written, by
   :func:`first_of_day`) or when an admin publishes it (the *Publish* action in the admin, which
   needs the ``leaderboard.publish_snapshot`` permission). Published snapshots are kept forever, and
   only they are offered as stable links (``/leaderboard/snapshots/<id>``) on the page.
2. The **current runs** are always kept, published or not: the latest run, and the run of the
   newest snapshot of any view the latest run does not have (:func:`current_runs`; the API still
   serves that snapshot as the view's latest).
3. Every other run is **pruned** (deleted, all its views at once) by :func:`snapshot_prune` once it
   is older than ``ARENA_SNAPSHOT_KEEP_HOURS``: the ``leaderboard.prune`` task (hourly, on the beat
   schedule) or ``python manage.py leaderboard_prune``.

So storage grows by one run a day plus what admins publish, and holds at most
``ARENA_SNAPSHOT_KEEP_HOURS`` of unpublished runs. ``published`` is the one field of a snapshot
that ever changes, and only from false to true; the contents never change. Snapshots written
before this rule were all offered as stable links, so migration 0002 publishes every one of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from arena.models import StoredImage

from .models import ImageRelease, Snapshot


def first_of_day(when: datetime) -> bool:
    """Whether a run computed at ``when`` would be the first of its UTC day."""
    start = datetime.combine(when.astimezone(UTC).date(), time(), tzinfo=UTC)
    return not Snapshot.objects.filter(computed_at__gte=start, computed_at__lt=start + timedelta(days=1)).exists()


def snapshot_publish(runs: Iterable[uuid.UUID]) -> int:
    """Publish whole runs (every view computed with them): they are kept forever. Returns the snapshots published."""
    return Snapshot.objects.filter(run__in=list(runs), published=False).update(published=True)


def snapshot_images_release(snapshot: Snapshot, by: str) -> int:
    """Make public every image of the battles ``snapshot`` counts, and publish its run (a release is forever).

    Returns how many images became public now (some may have been public through another snapshot). A second
    release of the same snapshot changes nothing.
    """
    from .snapshots import snapshot_rows  # the snapshots module publishes through this one

    with transaction.atomic():
        if ImageRelease.objects.filter(snapshot=snapshot).exists():
            return 0
        snapshot_publish([snapshot.run])
        battle_ids = [row.battle_id for row in snapshot_rows(snapshot)]
        shown = StoredImage.objects.filter(uses__turn__battle_id__in=battle_ids).distinct()
        count = StoredImage.objects.filter(pk__in=shown.filter(public_since=None).values("pk")).update(
            public_since=timezone.now())
        ImageRelease.objects.create(snapshot=snapshot, released_by=by, images=shown.count())
    return count


@dataclass(frozen=True)
class Pruned:
    runs: int
    snapshots: int


def prunable(*, now: datetime | None = None, keep_hours: int | None = None) -> models.QuerySet[Snapshot]:
    """The snapshots the rule lets go: unpublished, not of a current run, older than ``keep_hours``."""
    now = now or timezone.now()
    keep_hours = settings.ARENA_SNAPSHOT_KEEP_HOURS if keep_hours is None else keep_hours
    if keep_hours < 1:
        raise ValueError("keep_hours must be at least 1")
    doomed = Snapshot.objects.filter(published=False, computed_at__lt=now - timedelta(hours=keep_hours))
    return doomed.exclude(run__in=current_runs())


def current_runs() -> set[uuid.UUID]:
    """The runs holding the newest snapshot of some view: what the page and the API serve as current.

    That is the latest run, and, for a view the latest run no longer has (its category fell below
    the threshold after a change of the rules), the run of that view's last snapshot.
    """
    views = Snapshot.objects.order_by().values_list("view", flat=True).distinct()
    runs = {Snapshot.objects.filter(view=view).values_list("run", flat=True).first() for view in views}
    return {run for run in runs if run is not None}


def snapshot_prune(*, now: datetime | None = None, keep_hours: int | None = None, dry_run: bool = False) -> Pruned:
    """Delete the runs :func:`prunable` names (or only count them, with ``dry_run``)."""
    with transaction.atomic():
        doomed = prunable(now=now, keep_hours=keep_hours)
        found = Pruned(runs=doomed.order_by().values("run").distinct().count(), snapshots=doomed.count())
        if not dry_run and found.snapshots:
            # Snapshot's own queryset refuses to delete; this is the one place that may, under the rule above.
            models.QuerySet.delete(doomed)
    return found
