"""The rules and views in SQL (leaderboard.counting) against the Python reference (leaderboard.rules.judged).

Runs on whichever database the test run uses: SQLite embedded, PostgreSQL with DATABASE_URL.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import override_settings

from arena.models import Answer, ArenaModel, Battle, Turn, Vote
from leaderboard import counting
from leaderboard.models import BattleStyle, Snapshot
from leaderboard.rules import FACTS, Rules, duplicate_votes, judged, split_counted, views
from leaderboard.snapshots import battles_from_rows, counts_hash, snapshot_refresh, view_rows, vote_rows
from ratings.aggregate import aggregate
from ratings.fragility import leaderboard_fragility
from ratings.leaderboard import compute_leaderboard
from ratings.outcomes import FROM_ARENA
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db

RULES = Rules(min_vote_seconds=2.0, max_votes_per_ip_per_day=3, long_prompt_chars=50, category_min_votes=1,
              duplicate_prompt_share=0.02, duplicate_prompt_min_votes=4)
MIDNIGHT = datetime(2026, 3, 1, tzinfo=UTC)
STYLES: list[Any] = [[10, 1, 2, 0], [250.0, 0, 5, 3], [0, 0, 0, 0], [], [1, 2, 3], [1, "2", 3, 4], [1, None, 0, 0],
                     {"a": 1, "b": 2, "c": 3, "d": 4}, [1, True, 0, 0], [3.5, 0, 1, 0]]


def random_arena(seed: int, n: int = 400) -> None:
    """Votes that hit every rule and edge: daily caps across UTC midnight, NULL and exactly-threshold timings,
    empty addresses, unspecified exclusion reasons, languages with and without a view, and incomplete styles."""
    rng = random.Random(seed)
    models = [ArenaModel.objects.create(name=f"M{seed}-{i}") for i in range(7)]
    ArenaModel.objects.create(name=f"M{seed}-never")  # in the registry, in no battle: in no view
    battles, votes = [], []
    for i in range(n):
        a, b = rng.sample(models, 2)
        # Around three UTC midnights, so one address's votes fall on both sides of one.
        when = MIDNIGHT + timedelta(days=rng.randrange(3), seconds=rng.choice([-1, 0, 1]) * rng.randrange(1, 4000))
        ip = rng.choice(["", "", "busy", "busy", "busy", "other", "x-1", "x-2", "x-3"])
        counts = rng.random() > 0.1
        battles.append(Battle(
            model_a=a, model_b=b, status=Battle.Status.VOTED, session_key=f"s{i}", ip_hash=ip, created_at=when,
            turn_count=rng.choice([1, 1, 2, 3]), first_prompt_chars=rng.choice([10, 49, 50, 51, 400]),
            has_code=rng.random() < 0.3, language=rng.choice(["en", "en", "fr", "de", "", "und"]),
            has_images=i % 5 == 0,  # not drawn from rng: the other facts stay what they were
            # A prompt asked very often, one asked often, unique ones, and imports with no prompt.
            prompt_fingerprint=rng.choice(["", "hot", "hot", "hot", "warm", f"u{i}", f"u{i}", f"u{i}"]),
            mode=Battle.Mode.ANONYMOUS if counts else Battle.Mode.SIDE_BY_SIDE))
        votes.append(dict(outcome=rng.choice(["a", "b", "tie", "both_bad"]), counts=counts,
                          excluded_reason="" if counts else rng.choice(["side_by_side", "", "spam"]),
                          time_to_vote=rng.choice([None, 0.5, 1.999, 2.0, 2.0, 7.5, 30.0]), ip_hash=ip,
                          created_at=when + timedelta(seconds=rng.choice([0, 0, 2]))))
    # Vote ids in a different order from creation times, as imports make them.
    order = list(range(n))
    rng.shuffle(order)
    battles = Battle.objects.bulk_create([battles[i] for i in order])
    # ...and in a different order from the battles' ids, as votes arrive.
    voting = list(zip(battles, order, strict=True))
    rng.shuffle(voting)
    Vote.objects.bulk_create([Vote(battle=battle, session_key=battle.session_key, **votes[i]) for battle, i in voting])
    turns = Turn.objects.bulk_create([Turn(battle=battle, index=t, prompt="p") for battle in battles
                                      for t in range(1, battle.turn_count + 1)])
    answers = []
    for turn in turns:
        for side in "ab":
            if rng.random() < 0.02:
                continue  # a side with no answer for this turn
            style = rng.choice(STYLES) if rng.random() < 0.15 else [rng.randrange(500), rng.randrange(4),
                                                                     rng.randrange(9), rng.randrange(3)]
            answers.append(Answer(turn=turn, side=side, status=Answer.Status.DONE, text="t", style=style))
    Answer.objects.bulk_create(answers)
    Battle.objects.create(model_a=models[0], model_b=models[1], status=Battle.Status.FAILED, session_key="f",
                          ip_hash="f")
    # Models are never deleted once they battled (PROTECT); a deprecated one still counts, a renamed one is rated
    # under its name at the time of the refresh, on both paths.
    ArenaModel.objects.filter(pk=models[2].pk).update(state=ArenaModel.State.DEPRECATED)
    ArenaModel.objects.filter(pk=models[3].pk).update(name=f"M{seed}-3 (renamed)")


def reference_cells(rows: list[Any], rules: Rules) -> Counter[tuple[Any, ...]]:
    cells: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        key = (row.model_a, row.model_b, int(FROM_ARENA[row.outcome]),
               *(FACTS[name](row, rules) for name in counting.FACT_NAMES))
        cell = cells.setdefault(key, [0, row.vote_id, row.vote_id])
        cell[0] += 1
        cell[1], cell[2] = min(cell[1], row.vote_id), max(cell[2], row.vote_id)
    return Counter({(*key, *value): 1 for key, value in cells.items()})


def sql_cells(tally: counting.Tally) -> Counter[tuple[Any, ...]]:
    c = tally.cells
    out: Counter[tuple[Any, ...]] = Counter()
    for i in range(len(c.count)):
        facts = [bool(c.facts[name][i]) if name != "language" else c.languages[c.facts[name][i]]
                 for name in counting.FACT_NAMES]
        out[(int(c.model_a[i]), int(c.model_b[i]), int(c.outcome[i]), *facts, int(c.count[i]), int(c.first_vote[i]),
             int(c.last_vote[i]))] += 1
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sql_rules_count_and_exclude_exactly_the_votes_the_python_rules_do(seed: int) -> None:
    random_arena(seed)
    rows = list(vote_rows())
    duplicates = duplicate_votes(rows, RULES)
    reference = list(judged(rows, RULES, duplicates))
    counted = [row for row, reason in reference if not reason]
    excluded = Counter(reason for _, reason in reference if reason)
    assert {"not_counted:side_by_side", "not_counted:unspecified", "too_fast", "ip_daily_cap",
            "duplicate_prompt"} <= set(excluded)
    tally = counting.tally(RULES)
    assert tally.excluded == dict(sorted({**excluded, "failed_battle": 1}.items()))
    assert tally.votes == len(counted) and tally.last_vote == max(r.vote_id for r in counted)
    assert sql_cells(tally) == reference_cells(counted, RULES)
    assert tally.capped.tolist() == sorted(row.vote_id for row, reason in reference
                                           if reason in ("ip_daily_cap", "duplicate_prompt"))
    assert counting.duplicate_votes(RULES) == duplicates
    # The frequent prompt keeps exactly its cap of votes; the one under the cap keeps them all.
    passing = [r for r in rows if r.vote_id not in duplicates and (r, "") in reference]
    hot = sum(1 for r in passing if r.prompt_fingerprint == "hot")
    assert hot == int(RULES.prompt_cap(len(passing) + len(duplicates)))
    assert tally.languages == {r.language for r in counted}


@pytest.mark.parametrize("seed", [4, 5])
def test_every_view_gets_the_battles_numbering_and_counts_hash_of_the_vote_by_vote_path(seed: int, monkeypatch) -> None:
    # Small fetches and COPY blocks, so that a read crosses many block boundaries (rows split across them on PostgreSQL).
    monkeypatch.setattr(counting, "CHUNK", 7)
    monkeypatch.setattr(counting, "BLOCK_BYTES", 1000)
    random_arena(seed)
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    counted, _ = split_counted(vote_rows(), RULES)
    tally = counting.tally(RULES)
    counting.battle_styles_fill()
    checked = 0
    for view in views(tally.languages, RULES):
        kept = [r for r in counted if view.keep(r)]
        expected = battles_from_rows(kept, names, style=view.style_control)
        found = counting.style_battles(RULES, tally, names) if view.style_control else (
            counting.view_battles(tally.cells, view, names))
        assert found is not None, view.key
        got = found.battles
        assert got.names == expected.names, view.key  # numbered in order of first appearance
        assert got.n_battles == expected.n_battles and counts_hash(got) == counts_hash(expected), view.key
        pairs, reference = aggregate(got), aggregate(expected)
        assert np.array_equal(pairs.counts, reference.counts) and np.array_equal(pairs.first, reference.first)
        if view.style_control:
            for field in ("model_a", "model_b", "outcome", "style_a", "style_b"):
                assert np.array_equal(getattr(got, field), getattr(expected, field)), field
            assert 0 < got.n_battles < len(kept)  # incomplete styles left out, the same ones
        else:
            assert (found.vote_id_min, found.vote_id_max) == (kept[0].vote_id, max(r.vote_id for r in kept))
        checked += 1
    assert checked >= 7  # overall, style, three categories, at least two languages


def test_a_bound_on_the_vote_id_counts_only_the_votes_up_to_it() -> None:
    random_arena(6, n=150)
    up_to = sorted(Vote.objects.values_list("pk", flat=True))[90]
    counted, excluded = split_counted(vote_rows(up_to=up_to), RULES)
    tally = counting.tally(RULES, up_to=up_to)
    assert tally.votes == len(counted)
    assert {k: v for k, v in tally.excluded.items() if k != "failed_battle"} == dict(excluded)
    assert sql_cells(tally) == reference_cells(counted, RULES)


def test_style_counts_are_summed_once_per_battle_and_kept() -> None:
    strong, weak = model("Strong"), model("Weak")
    battle_voted(strong, weak, "a", style=([100, 1, 2, 3], [10, 0, 0, 1]), turns=2)
    battle_voted(strong, weak, "b", style=([100, 1, 2], [10, 0, 0, 1]))  # an answer lacking one count
    counting.battle_styles_fill()
    counting.battle_styles_fill()  # nothing new: nothing added twice
    rows = {s.battle.vote.outcome: s for s in BattleStyle.objects.select_related("battle__vote")}
    assert len(rows) == 2 and not rows["b"].complete
    assert rows["a"].complete and (rows["a"].a_length, rows["a"].a_bold, rows["a"].b_bold) == (200, 6, 2)


def test_the_refresh_gives_the_snapshots_the_vote_by_vote_path_gives() -> None:
    random_arena(7, n=300)
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    rules = RULES
    with override_settings(ARENA_MIN_VOTE_SECONDS=rules.min_vote_seconds, ARENA_LONG_PROMPT_CHARS=50,
                           ARENA_MAX_VOTES_PER_IP_PER_DAY=3, ARENA_CATEGORY_MIN_VOTES=1):
        snapshots = snapshot_refresh(rounds=20, seed=3)
    counted, _ = split_counted(vote_rows(), rules)
    assert [s.view for s in snapshots] == [v.key for v in views({r.language for r in counted}, rules)]
    for snapshot in snapshots:
        rows = view_rows(snapshot)  # what the snapshot's battle export streams
        battles = battles_from_rows(rows, names, style=snapshot.filters["style_control"])
        again = compute_leaderboard(battles, rounds=20, seed=3, style_control=snapshot.filters["style_control"],
                                    elo_k=None)
        assert snapshot.counts_hash == counts_hash(battles), snapshot.view
        assert snapshot.result["rows"] == again.to_dict()["rows"], snapshot.view
        assert snapshot.votes == battles.n_battles


def old_refresh(rules: Rules, *, rounds: int, seed: int) -> dict[str, dict[str, Any]]:
    """The refresh as it was before it counted in SQL, field for field: every vote read as a ``VoteRow``, the rules
    applied vote by vote in Python, a list per view (snapshots.py at commit 9a0ef87, with the engine's options of
    today's bootstrap preset and no online Elo). Returns what each view's snapshot would hold, by view key."""
    counted, excluded = split_counted(vote_rows(), rules)
    excluded["failed_battle"] = Battle.objects.filter(status=Battle.Status.FAILED).count()
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    out = {}
    for view in views({r.language for r in counted}, rules):
        kept = [r for r in counted if view.keep(r)]
        if not kept or len(kept) < view.min_votes:
            continue
        battles = battles_from_rows(kept, names, style=view.style_control)
        board = compute_leaderboard(battles, ci="bootstrap", rounds=rounds, seed=seed, style_control=view.style_control,
                                    elo_k=None)
        ids = [r.vote_id for r in kept]
        out[view.key] = {
            "view": view.key, "title": view.title, "votes": battles.n_battles, "vote_id_min": min(ids),
            "vote_id_max": max(ids), "excluded": dict(sorted(excluded.items())), "counts_hash": counts_hash(battles),
            "ci_method": "bootstrap", "rounds": rounds, "seed": seed,
            "result": {**board.to_dict(), "model_names": {str(pk): names[pk] for r in kept for pk in (r.model_a, r.model_b)},
                       # Added since: the fragility of the top places, of every view fitted on pair counts.
                       **({} if view.style_control else {"fragility": leaderboard_fragility(battles, top=5)})},
        }
    return out


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_refresh_writes_exactly_the_snapshots_the_old_vote_by_vote_refresh_computed(seed: int) -> None:
    random_arena(seed, n=350)
    settings = {"ARENA_MIN_VOTE_SECONDS": RULES.min_vote_seconds, "ARENA_LONG_PROMPT_CHARS": RULES.long_prompt_chars,
                "ARENA_MAX_VOTES_PER_IP_PER_DAY": RULES.max_votes_per_ip_per_day,
                "ARENA_CATEGORY_MIN_VOTES": RULES.category_min_votes, "ARENA_LEADERBOARD_METHOD": "bootstrap",
                "ARENA_DUPLICATE_PROMPT_SHARE": RULES.duplicate_prompt_share,
                "ARENA_DUPLICATE_PROMPT_MIN_VOTES": RULES.duplicate_prompt_min_votes}
    with override_settings(**settings):
        snapshots = snapshot_refresh(rounds=25, seed=seed)
    expected = old_refresh(RULES, rounds=25, seed=seed)
    assert [s.view for s in snapshots] == list(expected)  # the same views, in the same order
    assert {"overall", "style_control", "multi_turn", "long_prompt", "code", "language:en"} <= set(expected)
    for snapshot in snapshots:
        stored = Snapshot.objects.get(pk=snapshot.pk)  # as written and read back, JSON and all
        old = expected[snapshot.view]
        for field in ("title", "votes", "vote_id_min", "vote_id_max", "excluded", "counts_hash", "ci_method", "rounds",
                      "seed"):
            assert getattr(stored, field) == old[field], (snapshot.view, field)
        assert stored.result == json.loads(json.dumps(old["result"])), snapshot.view
    capped = expected["overall"]["excluded"]
    assert capped["ip_daily_cap"] > 0 and capped["too_fast"] > 0 and capped["not_counted:side_by_side"] > 0
    deprecated = ArenaModel.objects.get(state=ArenaModel.State.DEPRECATED).name
    assert deprecated in {row["model"] for row in snapshots[0].result["rows"]}  # deprecated models keep counting
    assert f"M{seed}-3 (renamed)" in snapshots[0].result["model_names"].values()


def test_a_busy_address_is_capped_per_utc_day_on_both_sides_of_midnight() -> None:
    a, b = model("A"), model("B")
    before, after = MIDNIGHT - timedelta(seconds=1), MIDNIGHT
    # Imported votes carry ids out of time order: the cap takes an address's first votes of the day by vote id.
    for when in [after, before, after, before, after, before, after, before, after]:
        battle_voted(a, b, "a", ip_hash="busy", when=when)
    battle_voted(a, b, "b", ip_hash="", when=after)  # no address: never capped
    tally = counting.tally(RULES)
    expected = [row.vote_id for row, reason in judged(vote_rows(), RULES) if reason == "ip_daily_cap"]
    assert tally.excluded["ip_daily_cap"] == 3 and tally.capped.tolist() == expected  # 5 - 3 after, 4 - 3 before
    assert tally.votes == 7


def test_a_refresh_with_no_battle_carrying_style_counts_has_no_style_controlled_view() -> None:
    a, b = model("A"), model("B")
    for i in range(4):
        battle_voted(a, b, "a" if i % 2 else "tie", ip_hash=f"ip-{i}", style=([1, 2], [3, 4]))  # counts incomplete
    assert counting.tally(RULES).votes == 4
    assert [s.view for s in snapshot_refresh(rounds=5)] == ["overall"]  # the style view, though always shown, has none
    assert BattleStyle.objects.filter(complete=False).count() == 4
