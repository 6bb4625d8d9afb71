from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from arena.models import Battle


class ImmutableError(Exception):
    pass


class SnapshotQuerySet(models.QuerySet["Snapshot"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableError("snapshots are deleted only by leaderboard.retention.snapshot_prune, which keeps every "
                             "snapshot that can be cited")


class Snapshot(models.Model):
    """One leaderboard view computed at one time; its contents never change after it is written.

    It stores everything needed to recompute it exactly from an export: the vote id
    range, the rule set and filters, the method, rounds, seed, code version and a
    hash of the aggregated counts. The one thing that changes is ``published``, once, from false to
    true (see :mod:`leaderboard.retention`): a published snapshot is kept forever, an unpublished
    one is pruned some time after a newer run has replaced it.
    """

    run = models.UUIDField(default=uuid.uuid4, db_index=True, help_text="Views computed together share a run.")
    view = models.CharField(max_length=50, help_text="overall, style_control, multi_turn, long_prompt, code, vision, language:xx")
    title = models.CharField(max_length=100)
    computed_at = models.DateTimeField(default=timezone.now, db_index=True)
    vote_id_min = models.BigIntegerField(null=True)
    vote_id_max = models.BigIntegerField(null=True)
    votes = models.PositiveIntegerField(help_text="Votes counted in this view.")
    excluded = models.JSONField(default=dict, help_text="Votes of the whole run left out, by reason.")
    filters = models.JSONField(default=dict, help_text="The rule set and this view's filter.")
    method = models.CharField(max_length=50)
    ci_method = models.CharField(max_length=20)
    rounds = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    code_version = models.CharField(max_length=100)
    counts_hash = models.CharField(max_length=64, help_text="SHA-256 of the aggregated (pair, outcome) counts.")
    result = models.JSONField(help_text="The leaderboard: rows, metadata and matrices.")
    published = models.BooleanField(
        default=False, db_index=True,
        help_text="Kept forever and offered as a stable link: the first run of each UTC day, and any run an admin "
        "publishes. Other runs are deleted once a newer run has replaced them and they are older than "
        "ARENA_SNAPSHOT_KEEP_HOURS.",
    )

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-computed_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "view"], name="snapshot_unique_view_per_run")]
        permissions = [("publish_snapshot", "Can publish snapshots (keep them forever)")]

    def __str__(self) -> str:
        return f"{self.title} at {self.computed_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ImmutableError("snapshots are immutable; compute a new one instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableError("snapshots are immutable; unpublished ones are pruned by "
                             "leaderboard.retention.snapshot_prune, published ones are never deleted")


class BattleStyle(models.Model):
    """A voted battle's answer style counts, summed over its turns per side, for the style-controlled view.

    Derived from the battle's answers (:func:`leaderboard.counting.battle_styles_fill`), which never
    change once the battle has its vote, so each battle is summed once instead of at every refresh.
    ``complete`` is false when an answer lacks style counts or a side has no answer; such battles are
    left out of the style-controlled view. Safe to empty: the next refresh sums every battle again.
    """

    battle = models.OneToOneField(Battle, on_delete=models.CASCADE, primary_key=True, related_name="+")
    complete = models.BooleanField()
    a_length = models.FloatField()
    a_headers = models.FloatField()
    a_lists = models.FloatField()
    a_bold = models.FloatField()
    b_length = models.FloatField()
    b_headers = models.FloatField()
    b_lists = models.FloatField()
    b_bold = models.FloatField()

    def __str__(self) -> str:
        return f"Style of battle {self.battle_id}"


class Ledger(models.Model):
    """What the refresh's rules made of every vote, kept between refreshes so that each judges only what is new.

    One row per set of rule thresholds (``rules``), with the cells the counted votes fall in; the
    votes themselves are in its :class:`LedgerChunk` rows. Written by ``leaderboard/tallies.py``
    in the same transaction as the reads it records. Safe to delete: the next refresh counts every
    vote again (slower once).
    """

    rules = models.CharField(max_length=500, unique=True, help_text="The thresholds it judged by (JSON).")
    seen = models.BigIntegerField(help_text="The largest vote id judged.")
    votes = models.BigIntegerField(help_text="How many votes were judged (every vote up to the largest id).")
    meta = models.JSONField(default=dict, help_text="Exclusion reasons, languages and often-asked prompts.")
    cells = models.BinaryField(help_text="The (models, outcome, battle facts) cell keys, packed NumPy.")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Ledger up to vote {self.seen}"


class LedgerChunk(models.Model):
    """Consecutive votes of a :class:`Ledger`, as packed NumPy arrays: ids, status, cells and style counts."""

    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="chunks")
    first_vote = models.BigIntegerField()
    votes = models.PositiveIntegerField()
    judged = models.BinaryField()
    style = models.BinaryField()

    class Meta:
        ordering = ["ledger", "first_vote"]
        constraints = [models.UniqueConstraint(fields=["ledger", "first_vote"], name="ledger_chunk_unique_start")]

    def __str__(self) -> str:
        return f"Ledger chunk from vote {self.first_vote}"


class ImageRelease(models.Model):
    """An admin made a snapshot's images public (the snapshot admin's action "Make the images public").

    From then on every image of the battles the snapshot counts can be fetched by anyone at /images/<sha256>
    (``arena.models.StoredImage.public_since``), and the snapshot's conversations export links to them. Images of
    other battles stay private to the session that attached them.
    """

    snapshot = models.OneToOneField(Snapshot, on_delete=models.PROTECT, related_name="image_release")
    released_at = models.DateTimeField(default=timezone.now)
    released_by = models.CharField(max_length=150)
    images = models.PositiveIntegerField(help_text="Images made public by this release.")

    class Meta:
        verbose_name = "image release"

    def __str__(self) -> str:
        return f"Images of {self.snapshot} (released by {self.released_by})"
