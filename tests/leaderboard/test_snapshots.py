from __future__ import annotations

import itertools
import json
import random
from datetime import timedelta
from html import escape
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

import ratings.leaderboard as engine
from arena.models import ArenaModel, Battle
from leaderboard.models import ImmutableError, Snapshot
from leaderboard.snapshots import battles_from_rows, snapshot_refresh, view_rows
from ratings.data import load_battles
from ratings.leaderboard import compute_leaderboard
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db


def play(n: int, *, seed: int = 1, **fields: Any) -> None:
    """n counted battles among three models of clearly different strength."""
    rng = random.Random(seed)
    strong, mid, weak = model("Strong"), model("Middle"), model("Weak")
    strength = {strong.pk: 2.0, mid.pk: 1.0, weak.pk: 0.0}
    pairs = list(itertools.permutations([strong, mid, weak], 2))
    for i in range(n):
        a, b = pairs[i % len(pairs)]
        p = 1 / (1 + 10 ** ((strength[b.pk] - strength[a.pk]) / 2))
        r = rng.random()
        outcome = "tie" if r > 0.9 else ("a" if r < p * 0.9 else "b")
        battle_voted(a, b, outcome, ip_hash=f"ip-{i % 40}", **fields)


def test_nothing_is_computed_before_the_first_counted_vote() -> None:
    battle_voted(model("A"), model("B"), "a", mode="side_by_side")
    assert snapshot_refresh(rounds=10) == []
    assert not Snapshot.objects.exists()


def test_a_snapshot_ranks_the_models_and_records_its_inputs() -> None:
    play(120)
    snapshots = snapshot_refresh(rounds=50, seed=7)
    overall = next(s for s in snapshots if s.view == "overall")
    rows = overall.result["rows"]
    assert [r["model"] for r in rows] == ["Strong", "Middle", "Weak"]
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in rows)
    assert overall.votes == 120 and overall.rounds == 50 and overall.seed == 7
    assert overall.vote_id_min >= 1 and overall.vote_id_max - overall.vote_id_min == 119
    fragile = overall.result["fragility"]
    assert fragile["votes"] == 120 and [(p["rank"], p["above"], p["below"]) for p in fragile["pairs"]] == [
        (1, "Strong", "Middle"), (2, "Middle", "Weak")]
    assert all(p["votes"] is None or 0 < p["votes"] <= p["budget"] for p in fragile["pairs"])
    style = next(s for s in snapshots if s.view == "style_control")
    assert "fragility" not in style.result  # fitted battle by battle: not checked
    assert overall.filters["ruleset"] == 2 and overall.filters["min_vote_seconds"] == 2
    rules = {r["name"]: r for r in overall.filters["rules"]}
    assert list(rules) == ["side_by_side", "incomplete_answer", "identity_leak", "admin_review", "anomalous_voter",
                           "too_fast", "ip_daily_cap", "duplicate_prompt"]
    assert rules["anomalous_voter"]["thresholds"]["z"] == 4.5 and rules["identity_leak"]["thresholds"] == {
        "min_term_chars": 3}
    assert rules["duplicate_prompt"]["thresholds"] == {"duplicate_prompt_share": 0.001, "duplicate_prompt_min_votes": 20}
    assert rules["too_fast"] == {"name": "too_fast", "version": 1, "applied": "snapshot",
                                 "thresholds": {"min_vote_seconds": 2.0}}
    assert len(overall.counts_hash) == 64 and overall.code_version
    assert overall.method == "bradley_terry" and overall.ci_method == "bootstrap"


def test_a_snapshot_can_be_recomputed_exactly_from_what_it_stores() -> None:
    play(60)
    snapshot = next(s for s in snapshot_refresh(rounds=30, seed=3) if s.view == "overall")
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    again = compute_leaderboard(battles_from_rows(view_rows(snapshot), names), rounds=snapshot.rounds, seed=snapshot.seed,
                                elo_k=None)
    assert again.to_dict()["rows"] == snapshot.result["rows"]


def test_snapshots_are_immutable() -> None:
    play(30)
    snapshot = snapshot_refresh(rounds=10)[0]
    snapshot.title = "Changed"
    with pytest.raises(ImmutableError):
        snapshot.save()
    with pytest.raises(ImmutableError):
        snapshot.delete()
    assert Snapshot.objects.get(pk=snapshot.pk).title != "Changed"


def test_a_run_without_new_votes_writes_nothing_unless_forced() -> None:
    play(30)
    assert snapshot_refresh(rounds=10)
    assert snapshot_refresh(rounds=10) == []
    assert snapshot_refresh(rounds=10, force=True)
    assert Snapshot.objects.filter(view="overall").count() == 2


def test_excluded_votes_are_left_out_and_counted_by_reason() -> None:
    play(30)
    a, b = model("Strong"), model("Weak")
    battle_voted(b, a, "a", mode="side_by_side")                   # the voter chose the models
    battle_voted(b, a, "a", time_to_vote=0.4)                      # no time to read the answers
    noon = timezone.now().replace(hour=12, minute=0) - timedelta(days=1)  # one UTC day, whatever the time now
    for minute in range(3):
        battle_voted(b, a, "a", ip_hash="busy", when=noon + timedelta(minutes=minute))  # beyond the daily cap of 2
    Battle.objects.create(model_a=a, model_b=b, status=Battle.Status.FAILED, session_key="s", ip_hash="h")
    with override_settings(ARENA_MAX_VOTES_PER_IP_PER_DAY=2):
        overall = next(s for s in snapshot_refresh(rounds=10) if s.view == "overall")
    assert overall.votes == 32
    assert overall.excluded == {"failed_battle": 1, "ip_daily_cap": 1, "not_counted:side_by_side": 1, "too_fast": 1}


@override_settings(ARENA_CATEGORY_MIN_VOTES=20)
def test_categories_are_computed_only_where_they_have_enough_votes() -> None:
    play(30, turns=2, has_code=True)              # 30 multi-turn battles about code, in English
    play(10, seed=2, language="fr")               # too few in French
    views = {s.view: s.votes for s in snapshot_refresh(rounds=10)}
    assert views == {"overall": 40, "style_control": 40, "multi_turn": 30, "code": 30, "language:en": 30}


def test_the_style_controlled_view_reports_the_style_coefficients() -> None:
    strong, weak = model("Verbose"), model("Terse")
    rng = random.Random(5)
    for i in range(80):
        long, short = [rng.randint(300, 500), 2, 5, 3], [rng.randint(20, 60), 0, 0, 0]
        a, b, style = (strong, weak, (long, short)) if i % 2 else (weak, strong, (short, long))
        battle_voted(a, b, "a" if a == strong else "b", style=style, ip_hash=f"ip-{i}")
    style_view = next(s for s in snapshot_refresh(rounds=10) if s.view == "style_control")
    names = [p["name"] for p in style_view.result["parameters"]]
    assert any("length" in name for name in names)


def test_the_command_refreshes_and_the_cli_gives_the_same_numbers(tmp_path, capsys) -> None:
    play(45)
    call_command("leaderboard_refresh", "--rounds", "20", "--no-progress")
    out = capsys.readouterr().out
    assert "Overall: 45 votes, 3 models" in out
    snapshot = Snapshot.objects.get(view="overall")
    export = tmp_path / "battles.jsonl"

    names = dict(ArenaModel.objects.values_list("pk", "name"))
    with export.open("w") as handle:
        for row in view_rows(snapshot):
            handle.write(json.dumps({"model_a": names[row.model_a], "model_b": names[row.model_b],
                                     "winner": {"a": "model_a", "b": "model_b"}.get(row.outcome, "tie"),
                                     "tstamp": row.created_at.timestamp()}) + "\n")
    battles, problems = load_battles(export)
    assert problems == []
    board = compute_leaderboard(battles, rounds=snapshot.rounds, seed=snapshot.seed)
    assert [(r.model, round(r.rating, 9)) for r in board.rows] == [
        (r["model"], round(r["rating"], 9)) for r in snapshot.result["rows"]]


def test_the_method_setting_must_name_a_preset() -> None:
    from django.core.exceptions import ImproperlyConfigured

    play(10)
    with override_settings(ARENA_LEADERBOARD_METHOD="elo"), pytest.raises(ImproperlyConfigured, match="must be one of"):
        snapshot_refresh(rounds=5)


def test_a_snapshot_records_its_method_preset_and_carries_no_online_elo() -> None:
    play(40)
    overall = next(s for s in snapshot_refresh(rounds=10) if s.view == "overall")
    assert overall.filters["leaderboard_method"] == "bootstrap" and overall.ci_method == "bootstrap"
    assert all(r["online_elo"] is None for r in overall.result["rows"])
    assert not any("online Elo" in note for note in overall.result["metadata"]["notes"])


@pytest.mark.skipif("lmarena" not in getattr(engine, "METHODS", {}), reason="the engine's lmarena preset is not in yet")
def test_the_lmarena_preset_gives_sandwich_intervals_and_says_so(client) -> None:
    play(60)
    with override_settings(ARENA_LEADERBOARD_METHOD="lmarena"):
        overall = next(s for s in snapshot_refresh(rounds=10) if s.view == "overall")
    assert overall.ci_method == "sandwich" and overall.rounds == 0 and overall.filters["leaderboard_method"] == "lmarena"
    html = client.get("/leaderboard").content.decode()
    assert escape(engine.describe_method(overall.result["metadata"])) in html
    assert "python -m ratings battles.jsonl --method lmarena</code>" in html


def test_a_style_controlled_view_too_large_to_bootstrap_gets_sandwich_intervals_and_the_page_says_why(client) -> None:
    strong, weak = model("Verbose"), model("Terse")
    rng = random.Random(5)
    for i in range(40):
        long, short = [rng.randint(300, 500), 2, 5, 3], [rng.randint(20, 60), 0, 0, 0]
        a, b, style = (strong, weak, (long, short)) if i % 2 else (weak, strong, (short, long))
        battle_voted(a, b, "a" if rng.random() < 0.7 else "b", style=style, ip_hash=f"ip-{i}")
    with override_settings(ARENA_STYLE_BOOTSTRAP_MAX_VOTES=39):
        snapshots = {s.view: s for s in snapshot_refresh(rounds=10)}
    style_view, overall = snapshots["style_control"], snapshots["overall"]
    assert (style_view.ci_method, style_view.rounds, style_view.filters["style_bootstrap_max_votes"]) == ("sandwich", 0, 39)
    assert overall.ci_method == "bootstrap" and "style_bootstrap_max_votes" not in overall.filters
    html = client.get("/leaderboard?view=style_control").content.decode()
    assert "Sandwich intervals rather than the bootstrap: this view has more than 39 votes" in html
    assert "python -m ratings battles.jsonl --ci sandwich --style-control" in html
    with override_settings(ARENA_STYLE_BOOTSTRAP_MAX_VOTES=40):
        assert next(s for s in snapshot_refresh(rounds=10, force=True) if s.view == "style_control").ci_method == "bootstrap"


def test_a_view_too_large_to_bootstrap_gets_sandwich_intervals_and_the_page_says_why(client) -> None:
    play(30)
    with override_settings(ARENA_BOOTSTRAP_MAX_VOTES=29):
        overall = next(s for s in snapshot_refresh(rounds=10) if s.view == "overall")
    assert (overall.ci_method, overall.rounds, overall.filters["bootstrap_max_votes"]) == ("sandwich", 0, 29)
    assert "style_bootstrap_max_votes" not in overall.filters
    html = client.get("/leaderboard").content.decode()
    assert "Sandwich intervals rather than the bootstrap: this view has more than 29 votes, where the two agree" in html
    assert "python -m ratings battles.jsonl --ci sandwich" in html
    with override_settings(ARENA_BOOTSTRAP_MAX_VOTES=30):
        again = next(s for s in snapshot_refresh(rounds=10, force=True) if s.view == "overall")
    assert again.ci_method == "bootstrap" and "bootstrap_max_votes" not in again.filters


@pytest.mark.django_db(transaction=True)
def test_a_refresh_outside_a_transaction_reads_every_query_from_one_snapshot_of_the_votes() -> None:
    # On PostgreSQL this runs the refresh's own REPEATABLE READ transaction (tests otherwise run inside one).
    play(30)
    overall = next(s for s in snapshot_refresh(rounds=5) if s.view == "overall")
    assert overall.votes == 30 and Snapshot.objects.filter(run=overall.run).count() == 2


def test_a_prompt_asked_too_often_counts_only_up_to_its_cap() -> None:
    a, b = model("A"), model("B")
    for i in range(30):
        battle_voted(a, b, "a", prompt="What is 2+2?" if i % 2 else "what is 2+2", ip_hash=f"ip-{i}", fingerprinted=True)
    for i in range(20):
        battle_voted(a, b, "b", prompt=f"Question number {i}", ip_hash=f"other-{i}", fingerprinted=True)
    with override_settings(ARENA_DUPLICATE_PROMPT_MIN_VOTES=12, ARENA_DUPLICATE_PROMPT_SHARE=0.1):
        overall = next(s for s in snapshot_refresh(rounds=10) if s.view == "overall")
    assert overall.excluded["duplicate_prompt"] == 18  # 30 votes on one prompt, 12 kept
    assert overall.votes == 32
    rows = overall.result["rows"]
    assert {r["model"]: r["wins"] for r in rows} == {"A": 12, "B": 20}


def test_a_model_tested_in_several_variants_stays_provisional_until_enough_votes_after_its_release(client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    release = timezone.now() - timedelta(hours=1)
    new, old = model("New", prerelease_variants=3, released_at=release), model("Old")
    for i in range(12):  # before the release: they do not count as fresh
        battle_voted(new, old, "a", ip_hash=f"ip-{i}", when=release - timedelta(minutes=i + 1))
    for i in range(5):
        battle_voted(new, old, "b", ip_hash=f"late-{i}", when=release + timedelta(minutes=i + 1))
    with override_settings(ARENA_FRESH_VOTES=6, ARENA_PROVISIONAL_VOTES=1):
        overall = next(s for s in snapshot_refresh(rounds=10) if s.view == "overall")
        assert overall.result["fresh"] == {"required": 6, "models": {
            "New": {"variants": 3, "released_at": release.isoformat(), "fresh_votes": 5}}}
        html = client.get("/leaderboard").content.decode()
    new_row = html.split('data-value="New"', 1)[1].split("</tr>", 1)[0]
    old_row = html.split('data-value="Old"', 1)[1].split("</tr>", 1)[0]
    assert "Tested in 3 private variants before release: provisional until 6 counted votes since its public " \
           "release; it has 5." in new_row
    assert "badge provisional" not in old_row
    battle_voted(new, old, "b", ip_hash="late-9", when=release + timedelta(minutes=30))
    with override_settings(ARENA_FRESH_VOTES=6, ARENA_PROVISIONAL_VOTES=1):
        snapshot_refresh(rounds=10)
        html = client.get("/leaderboard").content.decode()
    assert "badge provisional" not in html.split('data-value="New"', 1)[1].split("</tr>", 1)[0]
