from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings

from arena import services
from leaderboard.models import Snapshot
from leaderboard.tasks import LOCK_KEY, leaderboard_refresh, leaderboard_vote_counted
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db


@override_settings(ARENA_SNAPSHOT_EVERY_VOTES=3, ARENA_SNAPSHOT_ROUNDS=10)
def test_the_leaderboard_is_recomputed_after_every_n_counted_votes() -> None:
    a, b = model("One"), model("Two")
    for outcome in ("a", "b"):
        battle_voted(a, b, outcome)
        leaderboard_vote_counted()
    assert not Snapshot.objects.exists()
    battle_voted(a, b, "tie", mode="side_by_side")  # does not count toward N
    leaderboard_vote_counted()
    assert not Snapshot.objects.exists()
    battle_voted(a, b, "a")
    leaderboard_vote_counted()
    assert Snapshot.objects.filter(view="overall").count() == 1
    battle_voted(a, b, "a")
    leaderboard_vote_counted()  # one new vote since the snapshot: not yet
    assert Snapshot.objects.filter(view="overall").count() == 1


@override_settings(ARENA_SNAPSHOT_ROUNDS=10)
def test_a_refresh_already_running_is_not_started_twice() -> None:
    battle_voted(model("One"), model("Two"), "a")
    cache.set(LOCK_KEY, 1)
    try:
        leaderboard_refresh()
        assert not Snapshot.objects.exists()
    finally:
        cache.delete(LOCK_KEY)
    leaderboard_refresh()
    assert Snapshot.objects.exists()
    assert cache.get(LOCK_KEY) is None


def test_a_counted_vote_notifies_the_leaderboard_after_commit(ready_battle, django_capture_on_commit_callbacks,
                                                              monkeypatch) -> None:
    calls = []
    # The arena sends the task by name; it reaches the registered task's apply_async.
    monkeypatch.setattr(leaderboard_vote_counted, "apply_async", lambda *args, **kwargs: calls.append("queued"))
    with django_capture_on_commit_callbacks(execute=True):
        services.battle_vote(battle_uuid=ready_battle.uuid, session_key="s" * 32, ip_hash="h", outcome="a")
    assert calls == ["queued"]


def test_the_schedule_runs_the_refresh() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["leaderboard-refresh"]
    assert entry["task"] == leaderboard_refresh.name
    assert entry["schedule"] == settings.ARENA_SNAPSHOT_INTERVAL_MINUTES * 60
