"""Snapshot retention (leaderboard/retention.py): bounded storage, and nothing citable is ever deleted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client, override_settings

from leaderboard.models import ImmutableError, Snapshot
from leaderboard.retention import snapshot_prune, snapshot_publish
from leaderboard.snapshots import snapshot_refresh
from leaderboard.tasks import leaderboard_prune
from tests.leaderboard.test_page import page, snapshot_of
from tests.leaderboard.test_snapshots import play

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def run_at(when: datetime, *, published: bool = False, views: tuple[str, ...] = ("overall", "code")) -> uuid.UUID:
    run = uuid.uuid4()
    for view in views:
        snapshot_of({"A": (1010, 10), "B": (990, 10)}, view=view, title=view, run=run, computed_at=when,
                    published=published)
    return run


def runs() -> set[uuid.UUID]:
    return set(Snapshot.objects.values_list("run", flat=True))


def test_the_first_run_of_each_utc_day_is_published_and_later_ones_are_not() -> None:
    play(30)
    first = snapshot_refresh(rounds=5)
    second = snapshot_refresh(rounds=5, force=True)
    assert {s.published for s in first} == {True} and {s.published for s in second} == {False}
    Snapshot.objects.update(computed_at=NOW - timedelta(days=1))  # both runs were yesterday
    assert {s.published for s in snapshot_refresh(rounds=5, force=True)} == {True}


def test_pruning_deletes_only_old_unpublished_runs_that_are_not_the_latest() -> None:
    kept_daily = run_at(NOW - timedelta(days=30), published=True)
    old = run_at(NOW - timedelta(hours=49))
    young = run_at(NOW - timedelta(hours=47))  # also the latest run
    with override_settings(ARENA_SNAPSHOT_KEEP_HOURS=48):
        assert snapshot_prune(now=NOW, dry_run=True).runs == 1
        assert runs() == {kept_daily, old, young}
        pruned = snapshot_prune(now=NOW)
    assert (pruned.runs, pruned.snapshots) == (1, 2)
    assert runs() == {kept_daily, young}


def test_the_latest_run_is_kept_even_when_old_and_unpublished() -> None:
    older, latest = run_at(NOW - timedelta(days=9)), run_at(NOW - timedelta(days=8))
    assert snapshot_prune(now=NOW, keep_hours=1).runs == 1
    assert runs() == {latest} and older not in runs()


def test_the_last_snapshot_of_a_view_the_latest_run_lacks_is_kept_as_that_views_current_one(client: Client) -> None:
    oldest = run_at(NOW - timedelta(days=4), views=("overall", "language:fr"))
    last_fr = run_at(NOW - timedelta(days=3), views=("overall", "language:fr"))
    latest = run_at(NOW - timedelta(days=2), views=("overall",))  # French fell below the category threshold
    kept = Snapshot.objects.get(run=last_fr, view="language:fr")
    assert snapshot_prune(now=NOW, keep_hours=1).runs == 1
    assert runs() == {last_fr, latest} and oldest not in runs()
    assert client.get("/api/v1/snapshots/latest?view=language:fr").json()["snapshot"]["id"] == kept.pk


def test_published_runs_are_never_pruned_and_publishing_is_for_whole_runs() -> None:
    run = run_at(NOW - timedelta(days=400))
    run_at(NOW)
    one = Snapshot.objects.filter(run=run).first()
    assert one is not None
    assert snapshot_publish([one.run]) == 2
    assert snapshot_prune(now=NOW, keep_hours=1).snapshots == 0
    assert set(Snapshot.objects.filter(run=run).values_list("published", flat=True)) == {True}


def test_snapshots_cannot_be_deleted_around_the_rule() -> None:
    run_at(NOW)
    with pytest.raises(ImmutableError):
        Snapshot.objects.all().delete()
    with pytest.raises(ImmutableError):
        Snapshot.objects.first().delete()  # type: ignore[union-attr]
    assert Snapshot.objects.count() == 2


def test_the_task_and_the_command_prune(capsys) -> None:
    run_at(timezone_now() - timedelta(days=5))
    run_at(timezone_now() - timedelta(days=4))
    call_command("leaderboard_prune", "--dry-run")
    assert "Would delete 2 snapshot(s) of 1 run(s)." in capsys.readouterr().out
    leaderboard_prune()
    assert len(runs()) == 1


def timezone_now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def test_the_page_offers_a_stable_link_only_for_a_published_snapshot(client: Client) -> None:
    kept = snapshot_of({"A": (1010, 10), "B": (990, 10)}, published=True, computed_at=NOW - timedelta(days=1))
    snapshot_of({"A": (1010, 10), "B": (990, 10)}, published=False, computed_at=NOW)
    html = page(client)
    assert "Stable link to this snapshot" not in html
    assert "This snapshot is not kept" in html and f'href="/leaderboard/snapshots/{kept.pk}"' in html
    older = page(client, f"/leaderboard/snapshots/{kept.pk}")
    assert "Stable link to this snapshot</a> (kept forever)" in older and "kept for stable links" in older


def test_an_admin_with_the_permission_publishes_runs_in_the_admin(client: Client) -> None:
    run = run_at(NOW)
    staff = User.objects.create_user("editor", password="pw-12345678", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_snapshot"))
    client.force_login(staff)
    changelist = client.get("/admin/leaderboard/snapshot/").content.decode()
    assert "publish_runs" not in changelist  # not without the permission
    staff.user_permissions.add(Permission.objects.get(codename="publish_snapshot"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert "publish_runs" in client.get("/admin/leaderboard/snapshot/").content.decode()
    one = Snapshot.objects.filter(run=run).first()
    assert one is not None
    response = client.post("/admin/leaderboard/snapshot/", {"action": "publish_runs", "_selected_action": [one.pk]})
    assert response.status_code == 302
    assert set(Snapshot.objects.filter(run=run).values_list("published", flat=True)) == {True}
