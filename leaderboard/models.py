from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class ImmutableError(Exception):
    pass


class Snapshot(models.Model):
    """One leaderboard view computed at one time; never changed after it is written.

    It stores everything needed to recompute it exactly from an export: the vote id
    range, the rule set and filters, the method, rounds, seed, code version and a
    hash of the aggregated counts.
    """

    run = models.UUIDField(default=uuid.uuid4, db_index=True, help_text="Views computed together share a run.")
    view = models.CharField(max_length=50, help_text="overall, style_control, multi_turn, long_prompt, code, language:xx")
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

    class Meta:
        ordering = ["-computed_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "view"], name="snapshot_unique_view_per_run")]

    def __str__(self) -> str:
        return f"{self.title} at {self.computed_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ImmutableError("snapshots are immutable; compute a new one instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableError("snapshots are immutable and are never deleted")
