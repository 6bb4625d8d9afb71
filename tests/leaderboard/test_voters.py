"""Anomalous voters: the CUSUM bias test, the rate test and campaigns, scored after each vote by the task."""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from arena.models import ArenaModel, Battle, Vote
from leaderboard.snapshots import snapshot_refresh
from leaderboard.tasks import leaderboard_vote_counted
from leaderboard.voters import Cast, Thresholds, bias_signals, vote_check
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db
START = timezone.now() - timedelta(days=2)
_ids = itertools.count(1)


def casts(votes: list[tuple[int, int, str]]) -> list[Cast]:
    return [Cast(i, a, b, outcome, 20.0, START) for i, (a, b, outcome) in enumerate(votes)]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


LIMITS = Thresholds(max_per_hour=40, min_median_seconds=4.0, min_votes=8, z=4.5, share=0.8, agreement_z=3.5,
                    history=500,
                    campaign_sessions=5, campaign_minutes=60, campaign_share=0.8)


def test_a_voter_who_always_picks_one_model_is_flagged_once_the_evidence_is_strong_enough() -> None:
    strengths = {1: 0.0, 2: 0.0, 3: 0.0}
    assert bias_signals(casts([(1, 2 + i % 2, "a") for i in range(19)]), strengths, LIMITS) == []  # z = 4.36
    found = bias_signals(casts([(1, 2 + i % 2, "a") for i in range(21)]), strengths, LIMITS)  # z = 4.58
    assert [(direction, model) for direction, model, _ in found] == [("for", 1)]
    assert found[0][2].z == pytest.approx(math.sqrt(21))


def test_picking_a_weak_model_every_time_is_evidence_sooner() -> None:
    strengths = {1: -1.0, 2: 0.5}
    found = bias_signals(casts([(1, 2, "a")] * 8), strengths, LIMITS)
    assert [(direction, model) for direction, model, _ in found] == [("for", 1), ("against", 2)]


def test_winning_as_often_as_the_ratings_say_is_no_evidence() -> None:
    strengths = {1: 2.0, 2: 0.0}  # 1 beats 2 88% of the time
    history = casts([(1, 2, "a")] * 88 + [(1, 2, "b")] * 12)
    assert bias_signals(history, strengths, LIMITS) == []


def decisive_voter(rng: random.Random, strengths: dict[int, float], n: int, amplify: float
                   ) -> list[tuple[int, int, str]]:
    """Votes of an honest voter whose judgement follows the ratings, ``amplify`` times as decisively."""
    votes = []
    for _ in range(n):
        a, b = rng.sample(sorted(strengths), 2)
        p = sigmoid(amplify * (strengths[a] - strengths[b]))
        votes.append((a, b, "a" if rng.random() < p else "b"))
    return votes


@pytest.mark.parametrize("seed", range(20))
def test_an_honest_voter_with_strong_preferences_is_not_flagged(seed: int) -> None:
    rng = random.Random(seed)
    strengths = {m: s for m, s in enumerate([1.5, 1.0, 0.6, 0.3, 0.0, -0.3, -0.6, -1.0, -1.5], start=1)}
    votes = decisive_voter(rng, strengths, 500, amplify=1.5)  # half again as sure as the crowd, 500 votes
    for end in range(LIMITS.min_votes, len(votes) + 1, 10):  # re-tested as the votes come in
        assert bias_signals(casts(votes[:end]), strengths, LIMITS) == []


# ---- through the task -------------------------------------------------------------------------------------------


def cast(a: ArenaModel, b: ArenaModel, outcome: str, *, session: str, address: str, when: datetime,
         prompt_fingerprint: str = "", seconds: float = 20.0) -> Vote:
    battle = Battle.objects.create(mode="anonymous", model_a=a, model_b=b, status=Battle.Status.VOTED,
                                   session_key=session, ip_hash=address, created_at=when, ready_at=when,
                                   prompt_fingerprint=prompt_fingerprint)
    return Vote.objects.create(battle=battle, outcome=outcome, counts=True, time_to_vote=seconds, session_key=session,
                               ip_hash=address, created_at=when)


@pytest.fixture
def rated() -> dict[str, ArenaModel]:
    """Four models with a published overall snapshot: Top > Good > Fair > Weak."""
    models = {name: model(name) for name in ("Top", "Good", "Fair", "Weak")}
    strength = {"Top": 1.5, "Good": 0.5, "Fair": -0.5, "Weak": -1.5}
    rng = random.Random(0)
    names = list(models)
    for i in range(400):
        x, y = rng.sample(names, 2)
        won = rng.random() < sigmoid(strength[x] - strength[y])
        battle_voted(models[x], models[y], "a" if won else "b", ip_hash=f"crowd-{i}",
                     when=START - timedelta(minutes=i))
    assert snapshot_refresh(rounds=10)
    return models


def test_a_session_that_always_votes_for_the_weakest_model_is_left_out_silently(rated) -> None:
    weak, others = rated["Weak"], [rated["Top"], rated["Good"], rated["Fair"]]
    votes = []
    for i in range(8):
        vote = cast(weak, others[i % 3], "a", session="rigger", address=f"addr-{i}",
                    when=START + timedelta(minutes=5 * i))
        votes.append(vote)
        leaderboard_vote_counted(vote.pk)
    excluded = Vote.objects.filter(session_key="rigger", counts=False)
    assert excluded.count() == 8  # the earlier ones too, once the session is flagged
    evidence = excluded.first().evidence
    assert evidence["rule"] == "anomalous_voter" and {s["signal"] for s in evidence["signals"]} >= {"bias_for"}
    assert {s["scope"] for s in evidence["signals"]} == {"session"}
    assert any(s.get("model") == "Weak" for s in evidence["signals"])  # named for the review page
    from arena.services import evidence_summary

    assert "bias_for (session): model Weak" in evidence_summary(evidence)
    assert set(excluded.values_list("excluded_reason", flat=True)) == {"anomalous_voter"}


def test_many_honest_sessions_behind_one_address_are_not_flagged(rated) -> None:
    rng = random.Random(3)
    strength = {"Top": 1.5, "Good": 0.5, "Fair": -0.5, "Weak": -1.5}
    for i in range(150):
        x, y = rng.sample(list(rated), 2)
        won = rng.random() < sigmoid(2 * (strength[x] - strength[y]))
        vote = cast(rated[x], rated[y], "a" if won else "b", session=f"campus-{i % 30}", address="campus-nat",
                    when=START + timedelta(minutes=2 * i))
        assert vote_check(vote.pk) == []
    assert not Vote.objects.filter(ip_hash="campus-nat", counts=False).exists()


def test_a_session_voting_faster_than_anyone_reads_is_flagged_for_its_rate(rated) -> None:
    top, good = rated["Top"], rated["Good"]
    with override_settings(ARENA_VOTER_MAX_PER_HOUR=10):
        for i in range(11):
            vote = cast(top, good, "a" if i % 2 else "b", session="bot", address="bot-ip",
                        when=START + timedelta(minutes=i))
            findings = vote_check(vote.pk)
    assert [f.signal for f in findings] == ["rate"]
    assert Vote.objects.filter(session_key="bot", counts=False).count() == 11


def test_new_sessions_voting_the_same_way_on_the_same_prompt_are_a_campaign(rated) -> None:
    fair, others = rated["Fair"], [rated["Top"], rated["Good"], rated["Weak"]]
    for i in range(6):
        vote = cast(fair, others[i % 3], "a", session=f"fresh-{i}", address=f"ip-{i}", prompt_fingerprint="who-made-you",
                    when=START + timedelta(minutes=i))
        findings = vote_check(vote.pk)
    assert [f.signal for f in findings] == ["campaign"]
    assert Vote.objects.filter(battle__prompt_fingerprint="who-made-you", counts=False).count() == 5 + 1


def test_a_popular_prompt_with_split_votes_is_no_campaign(rated) -> None:
    names = list(rated)
    for i in range(12):
        a, b = rated[names[i % 4]], rated[names[(i + 1) % 4]]
        vote = cast(a, b, "a" if i % 3 else "b", session=f"new-{i}", address=f"ip-{i}", prompt_fingerprint="hello",
                    when=START + timedelta(minutes=i))
        assert vote_check(vote.pk) == []


def test_a_reinstated_vote_stays_counted_when_its_voter_is_flagged_later(rated) -> None:
    weak, top = rated["Weak"], rated["Top"]
    first = cast(weak, top, "a", session="s", address="a", when=START)
    Vote.objects.filter(pk=first.pk).update(counts=True, reinstated_at=timezone.now(), reinstated_by="root")
    for i in range(1, 8):
        vote_check(cast(weak, top, "a", session="s", address="a", when=START + timedelta(minutes=5 * i)).pk)
    assert Vote.objects.get(pk=first.pk).counts
    assert Vote.objects.filter(session_key="s", counts=False).count() == 7


def test_the_checks_can_be_turned_off(rated) -> None:
    weak, top = rated["Weak"], rated["Top"]
    with override_settings(ARENA_VOTER_CHECKS=False):
        for i in range(10):
            leaderboard_vote_counted(cast(weak, top, "a", session="s", address="a",
                                          when=START + timedelta(minutes=5 * i)).pk)
    assert not Vote.objects.filter(counts=False).exists()


def test_before_any_snapshot_every_model_is_taken_as_equal(db: Any) -> None:
    a, b = model("A"), model("B")
    for i in range(21):  # with p = 1/2, z = sqrt(votes): 4.58 at 21
        findings = vote_check(cast(a, b, "a", session="s", address="x", when=START + timedelta(minutes=5 * i)).pk)
    assert {f.signal for f in findings} == {"bias_for", "bias_against"}


def test_a_voter_who_keeps_voting_the_weaker_model_up_is_flagged_however_spread_out(rated) -> None:
    rng = random.Random(5)
    strength = {"Top": 1.5, "Good": 0.5, "Fair": -0.5, "Weak": -1.5}
    names = list(rated)
    for i in range(40):
        x, y = rng.sample(names, 2)
        weaker = x if strength[x] < strength[y] else y
        vote = cast(rated[x], rated[y], "a" if weaker == x else "b", session="contrarian", address="c-ip",
                    when=START + timedelta(minutes=5 * i))
        findings = vote_check(vote.pk)
    assert "against_ratings" in {f.signal for f in findings}


def test_honest_voters_agree_with_the_ratings_as_often_as_expected(rated) -> None:
    from leaderboard.voters import agreement, strengths_current

    strengths = strengths_current()
    ids = {name: m.pk for name, m in rated.items()}
    for seed in range(10):
        rng = random.Random(seed)
        history = []
        for i in range(300):
            x, y = rng.sample(list(ids.values()), 2)
            won = rng.random() < sigmoid(1.5 * (strengths[x] - strengths[y]))  # decisive, and honest
            history.append(Cast(i, x, y, "a" if won else "b", 20.0, START))
        assert agreement(history, strengths).z > -3.5


@pytest.mark.parametrize("amplify", [0.0, 0.5])
def test_a_noisy_honest_voter_is_not_taken_for_one_voting_against_the_ratings(amplify: float) -> None:
    from leaderboard.voters import voter_findings

    strengths = {m: s for m, s in enumerate([1.5, 1.0, 0.6, 0.3, 0.0, -0.3, -0.6, -1.0, -1.5], start=1)}
    for seed in range(10):
        history = casts(decisive_voter(random.Random(seed), strengths, 500, amplify=amplify))
        # (all cast at one instant here, so only the address scope, which has no rate test, is asked)
        assert voter_findings(history, strengths, LIMITS, "address", START) == []


def test_sessions_that_share_a_prompt_and_vote_it_against_the_ratings_are_flagged_together(rated) -> None:
    """Omnipresent riggers: each session looks like a noisy voter, but their shared prompt, pooled, does not."""
    rng = random.Random(7)
    names = list(rated)
    strength = {"Top": 1.5, "Good": 0.5, "Fair": -0.5, "Weak": -1.5}
    findings: list = []
    for i in range(36):
        x, y = rng.sample(names, 2)
        weaker = x if strength[x] < strength[y] else y
        honest = rng.random() < sigmoid(strength[x] - strength[y])
        # Half the time like the crowd, half the time for the weaker model: a share of about 0.5 per session.
        outcome = ("a" if weaker == x else "b") if (i // 6) % 2 else ("a" if honest else "b")
        vote = cast(rated[x], rated[y], outcome, session=f"rig-{i % 6}", address=f"rig-ip-{i % 6}",
                    prompt_fingerprint="which-model-are-you", when=START + timedelta(hours=i))
        findings = vote_check(vote.pk) or findings
    signals = {f.signal: f for f in findings}
    assert "prompt_against_ratings" in signals and signals["prompt_against_ratings"].detail["z"] <= -4.5
    assert not {"bias_for", "bias_against", "against_ratings", "campaign"} & set(signals)  # none alone would see it
    assert set(Vote.objects.filter(session_key__startswith="rig-", counts=True).values_list("pk", flat=True)) == set()


def test_a_shared_prompt_voted_like_the_ratings_flags_nobody_even_asked_again_and_again(rated) -> None:
    rng = random.Random(8)
    names = list(rated)
    strength = {"Top": 1.5, "Good": 0.5, "Fair": -0.5, "Weak": -1.5}
    for i in range(120):
        x, y = rng.sample(names, 2)
        won = rng.random() < sigmoid(strength[x] - strength[y])
        vote = cast(rated[x], rated[y], "a" if won else "b", session=f"fan-{i % 8}", address=f"fan-ip-{i % 8}",
                    prompt_fingerprint="hello", when=START + timedelta(hours=i))
        assert vote_check(vote.pk) == []


def test_an_honest_repeat_asker_of_a_rigged_prompt_is_not_swept_up(rated) -> None:
    top, weak = rated["Top"], rated["Weak"]
    for i in range(30):
        vote_check(cast(weak, top, "a", session=f"rig-{i % 6}", address=f"rig-ip-{i % 6}",
                        prompt_fingerprint="which-model-are-you", when=START + timedelta(hours=i)).pk)
    for i in range(4):  # someone who asks the same prompt and votes as the ratings say
        vote_check(cast(top, weak, "a", session="curious", address="curious-ip",
                        prompt_fingerprint="which-model-are-you", when=START + timedelta(hours=40 + i)).pk)
    assert not Vote.objects.filter(session_key="curious", counts=False).exists()
    assert not Vote.objects.filter(session_key__startswith="rig-", counts=True).exists()
