"""Anomalous voters, scored online: after every counted vote, its session and its (hashed) address are checked.

Three signals (docs/integrity.md has the reasoning and the thresholds):

- ``rate`` (per session): more votes in the last hour than ``ARENA_VOTER_MAX_PER_HOUR``, or a median
  time to vote under ``ARENA_VOTER_MIN_MEDIAN_SECONDS`` over at least ``ARENA_VOTER_MIN_VOTES`` votes.
- ``bias_for`` / ``bias_against``: per model, a sequential score test of the voter's decisive votes
  on battles with it against what the ratings predict (each win has probability ``p`` from the
  latest overall snapshot's Bradley–Terry ratings): ``z = (wins − Σp) / √Σp(1−p)``, re-tested after
  every vote. It flags when ``z ≥ ARENA_VOTER_Z`` and the model won at least ``ARENA_VOTER_SHARE``
  of those votes (or the mirror image, against it), over at least ``ARENA_VOTER_MIN_VOTES`` votes:
  a voter who picks one model whatever it faces. Simulated honest voters twice as decisive as the
  crowd are flagged in about 2% of 500-vote histories, 1.5 times as decisive in none of 300
  (docs/integrity.md); a rigger voting for a mid-table model 90% of the time is flagged after about
  20 of its votes. This is the sequential-test idea of FastChat's outlier detection, as a z-score.
- ``against_ratings``: the same score test over all of the voter's decisive votes, of how often the
  higher-rated model of the pair won: ``z ≤ −ARENA_VOTER_AGREEMENT_Z`` and a share of at most
  :data:`AGREEMENT_SHARE` is a voter who keeps voting the weaker model up, whichever models they are.
- ``campaign``: within ``ARENA_CAMPAIGN_MINUTES``, at least ``ARENA_CAMPAIGN_SESSIONS`` new
  sessions (whose first vote falls in the window) voted for the same model on battles with the
  same first prompt, and they make up most (``ARENA_CAMPAIGN_SHARE``) of that prompt's decisive
  votes in the window.
- ``prompt_against_ratings`` (across sessions): the agreement test above, pooled over the latest
  ``ARENA_VOTER_HISTORY`` votes on one first prompt from at least ``ARENA_CAMPAIGN_SESSIONS``
  sessions: ``z ≤ −ARENA_VOTER_Z``. Pooled over many voters, honest noise averages out (the ratings
  are fitted from the same crowd), so no share floor is needed; the sessions flagged are those that
  asked that prompt at least ``ARENA_CAMPAIGN_REPEATS`` times and voted on it against the ratings
  more than expected. Riggers spreading their votes over every battle (Min et al.'s "omnipresent"
  strategy) look like noisy voters one session at a time, but share their few identity-eliciting
  prompts.

A flagged session's or address's counted votes stop counting (reason ``anomalous_voter``) with the
evidence stored on each; a campaign's votes likewise. The voter is not told: the vote was answered
before this check ran, and later votes are flagged the same way. Admins review them on the vote list.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from arena.models import ArenaModel, Vote, votes_changed
from ratings.bradley_terry import ELO_PER_NAT

from .models import Snapshot

RULE = "anomalous_voter"
VERSION = 2  # 2: the pooled per-prompt signal (prompt_against_ratings)
#: A voter is "against the ratings" only if, besides the z-score, the higher-rated model won at most this share of
#: their votes: a merely noisy voter (honest, undecided) agrees about half the time and must not be flagged.
AGREEMENT_SHARE = 0.4


@dataclass(frozen=True)
class Thresholds:
    max_per_hour: int
    min_median_seconds: float
    min_votes: int
    z: float
    share: float
    agreement_z: float
    history: int
    campaign_sessions: int
    campaign_minutes: int
    campaign_share: float
    campaign_repeats: int = 3

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            max_per_hour=settings.ARENA_VOTER_MAX_PER_HOUR,
            min_median_seconds=float(settings.ARENA_VOTER_MIN_MEDIAN_SECONDS),
            min_votes=settings.ARENA_VOTER_MIN_VOTES,
            z=float(settings.ARENA_VOTER_Z),
            share=float(settings.ARENA_VOTER_SHARE),
            agreement_z=float(settings.ARENA_VOTER_AGREEMENT_Z),
            history=settings.ARENA_VOTER_HISTORY,
            campaign_sessions=settings.ARENA_CAMPAIGN_SESSIONS,
            campaign_minutes=settings.ARENA_CAMPAIGN_MINUTES,
            campaign_share=float(settings.ARENA_CAMPAIGN_SHARE),
            campaign_repeats=settings.ARENA_CAMPAIGN_REPEATS,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Finding:
    signal: str  # rate, against_ratings, bias_for, bias_against, campaign, prompt_against_ratings
    scope: str  # session, address, campaign, prompt
    detail: dict[str, Any]


@dataclass(frozen=True)
class Cast:
    """One past vote of a voter, as the checks need it."""

    vote_id: int
    model_a: int
    model_b: int
    outcome: str
    time_to_vote: float | None
    created_at: Any


def strengths_current() -> dict[int, float]:
    """Natural-log strengths by model id from the latest overall snapshot ({} before the first).

    Read once per snapshot: the check runs after every vote, and a snapshot's result (heatmaps and all)
    is large, so only its id is looked up each time.
    """
    latest = Snapshot.objects.filter(view="overall").values_list("pk", "run").first()
    if latest is None:
        return {}
    if latest not in _cache:
        rows = Snapshot.objects.get(pk=latest[0]).result.get("rows", [])
        ids = dict(ArenaModel.objects.filter(name__in=[r["model"] for r in rows]).values_list("name", "pk"))
        _cache.clear()
        _cache[latest] = {ids[r["model"]]: (r["rating"] - 1000.0) / ELO_PER_NAT for r in rows if r["model"] in ids}
    return _cache[latest]


_cache: dict[tuple[int, Any], dict[int, float]] = {}  # by (snapshot id, run): ids alone can come back


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Tally:
    """One model in one voter's votes: decisive votes on it, its wins, and what the ratings expected."""

    votes: int
    wins: int
    expected: float
    variance: float

    @property
    def z(self) -> float:
        return (self.wins - self.expected) / math.sqrt(self.variance) if self.variance > 0 else 0.0

    @property
    def share(self) -> float:
        return self.wins / self.votes if self.votes else 0.0


def model_tallies(history: list[Cast], strengths: dict[int, float]) -> dict[int, Tally]:
    """Per model, the voter's decisive votes on battles with it: wins against the ratings' expectation."""
    sums: dict[int, list[float]] = {}
    for cast in history:
        if cast.outcome not in ("a", "b"):
            continue
        for model, other, won in ((cast.model_a, cast.model_b, cast.outcome == "a"),
                                  (cast.model_b, cast.model_a, cast.outcome == "b")):
            p = _sigmoid(strengths.get(model, 0.0) - strengths.get(other, 0.0))
            total = sums.setdefault(model, [0, 0, 0.0, 0.0])
            total[0] += 1
            total[1] += won
            total[2] += p
            total[3] += p * (1.0 - p)
    return {m: Tally(int(v), int(w), e, var) for m, (v, w, e, var) in sums.items()}


def bias_signals(history: list[Cast], strengths: dict[int, float], limits: Thresholds) -> list[tuple[str, int, Tally]]:
    """(direction, model, tally) for each model the voter picks (or rejects) far beyond its rating's prediction."""
    found = []
    for model, tally in model_tallies(history, strengths).items():
        if tally.votes < limits.min_votes:
            continue
        if tally.z >= limits.z and tally.share >= limits.share:
            found.append(("for", model, tally))
        elif tally.z <= -limits.z and tally.share <= 1.0 - limits.share:
            found.append(("against", model, tally))
    return found


def agreement(history: list[Cast], strengths: dict[int, float]) -> Tally:
    """How often the voter's decisive votes went to the higher-rated model of the pair, against the ratings'
    expectation (pairs rated equal say nothing and are skipped)."""
    votes, wins, expected, variance = 0, 0, 0.0, 0.0
    for cast in history:
        if cast.outcome not in ("a", "b"):
            continue
        gap = strengths.get(cast.model_a, 0.0) - strengths.get(cast.model_b, 0.0)
        if gap == 0.0:
            continue
        p = _sigmoid(abs(gap))
        votes += 1
        wins += (cast.outcome == "a") == (gap > 0)
        expected += p
        variance += p * (1.0 - p)
    return Tally(votes, wins, expected, variance)


def voter_findings(history: list[Cast], strengths: dict[int, float], limits: Thresholds, scope: str,
                   now: Any) -> list[Finding]:
    """The rate and bias signals for one voter's votes (oldest first)."""
    findings = []
    last_hour = [c for c in history if c.created_at >= now - timedelta(hours=1)]
    timed = [c.time_to_vote for c in history if c.time_to_vote is not None]
    if scope != "session":
        pass  # many people can share an address (a campus, a carrier's NAT): rates are a session's only
    elif len(last_hour) > limits.max_per_hour:
        findings.append(Finding("rate", scope, {"votes_last_hour": len(last_hour)}))
    elif len(timed) >= limits.min_votes and statistics.median(timed) < limits.min_median_seconds:
        findings.append(Finding("rate", scope, {"median_seconds": round(statistics.median(timed), 2),
                                                 "votes": len(timed)}))
    overall = agreement(history, strengths)
    if overall.votes >= limits.min_votes and overall.z <= -limits.agreement_z and overall.share <= AGREEMENT_SHARE:
        findings.append(Finding("against_ratings", scope, {
            "votes": overall.votes, "for_higher_rated": overall.wins, "expected": round(overall.expected, 2),
            "z": round(overall.z, 2)}))
    for direction, model, tally in bias_signals(history, strengths, limits):
        findings.append(Finding(f"bias_{direction}", scope, {
            "model_id": model, "votes": tally.votes, "wins": tally.wins, "expected": round(tally.expected, 2),
            "z": round(tally.z, 2)}))
    return findings


def _history(field: str, key: str, limits: Thresholds) -> list[Cast]:
    rows = (Vote.objects.filter(**{field: key}, battle__mode="anonymous")
            .order_by("-pk").values_list("pk", "battle__model_a_id", "battle__model_b_id", "outcome", "time_to_vote",
                                         "created_at")[: limits.history])
    return [Cast(*row) for row in reversed(rows)]


def _campaign(vote: Vote, limits: Thresholds) -> tuple[Finding, list[int]] | None:
    """A burst of new sessions voting for the same model on the vote's first prompt; the campaign's vote ids."""
    fingerprint = vote.battle.prompt_fingerprint
    if not fingerprint or vote.outcome not in ("a", "b"):
        return None
    start = vote.created_at - timedelta(minutes=limits.campaign_minutes)
    window = list(Vote.objects.filter(battle__prompt_fingerprint=fingerprint, created_at__gte=start,
                                      created_at__lte=vote.created_at, outcome__in=("a", "b"),
                                      battle__mode="anonymous")
                  .values_list("pk", "session_key", "outcome", "battle__model_a_id", "battle__model_b_id"))
    winner = vote.battle.model_a_id if vote.outcome == "a" else vote.battle.model_b_id
    picked = [(pk, s) for pk, s, outcome, a, b in window if (a if outcome == "a" else b) == winner]
    if len({s for _, s in picked}) < limits.campaign_sessions or len(picked) < limits.campaign_share * len(window):
        return None  # not enough of them even before asking which sessions are new
    sessions = {s for _, s in picked}
    earlier = set(Vote.objects.filter(session_key__in=sessions, created_at__lt=start)
                  .values_list("session_key", flat=True).distinct())
    same = [(pk, s) for pk, s in picked if s not in earlier]
    joined = {s for _, s in same}
    if len(joined) < limits.campaign_sessions or len(same) < limits.campaign_share * len(window):
        return None
    finding = Finding("campaign", "campaign", {"prompt_fingerprint": fingerprint, "model_id": winner,
                                                "sessions": len(joined), "votes": len(same), "window_votes": len(window)})
    return finding, [pk for pk, _ in same]


def _prompt_against_ratings(vote: Vote, strengths: dict[int, float], limits: Thresholds
                            ) -> tuple[Finding, list[str]] | None:
    """The vote's first prompt, pooled over the sessions that asked it, voted against the ratings; the sessions
    that asked it repeatedly and pushed that way."""
    fingerprint = vote.battle.prompt_fingerprint
    if not fingerprint or not strengths:
        return None
    rows = list(Vote.objects.filter(battle__prompt_fingerprint=fingerprint, battle__mode="anonymous")
                .order_by("-pk").values_list("pk", "battle__model_a_id", "battle__model_b_id", "outcome",
                                             "time_to_vote", "created_at", "session_key")[: limits.history])
    by_session: dict[str, list[Cast]] = {}
    for pk, model_a, model_b, outcome, seconds, created, session in rows:
        by_session.setdefault(session, []).append(Cast(pk, model_a, model_b, outcome, seconds, created))
    if len(by_session) < limits.campaign_sessions:
        return None
    pooled = agreement([c for history in by_session.values() for c in history], strengths)
    if pooled.votes < limits.min_votes or pooled.z > -limits.z:
        return None
    pushing = [session for session, history in by_session.items() if len(history) >= limits.campaign_repeats
               and (mine := agreement(history, strengths)).votes and mine.wins < mine.expected]
    if not pushing:
        return None
    finding = Finding("prompt_against_ratings", "prompt", {
        "prompt_fingerprint": fingerprint, "sessions": len(by_session), "votes": pooled.votes,
        "for_higher_rated": pooled.wins, "expected": round(pooled.expected, 2), "z": round(pooled.z, 2),
        "sessions_flagged": len(pushing)})
    return finding, pushing


def vote_check(vote_id: int) -> list[Finding]:
    """Score the voter of a counted vote (its session, its address) and the campaign it may belong to; leave out,
    silently, the counted votes of whatever is flagged. Returns the findings."""
    vote = Vote.objects.select_related("battle").filter(pk=vote_id).first()
    if vote is None or vote.battle.mode != "anonymous":
        return []
    limits = Thresholds.from_settings()
    strengths = strengths_current()
    now = vote.created_at
    findings: list[Finding] = []
    flagged = Q(pk__in=[])
    for scope, field, key in (("session", "session_key", vote.session_key), ("address", "ip_hash", vote.ip_hash)):
        if not key:
            continue
        found = voter_findings(_history(field, key, limits), strengths, limits, scope, now)
        if found:
            findings += found
            flagged |= Q(**{field: key})
    campaign = _campaign(vote, limits)
    if campaign is not None:
        findings.append(campaign[0])
        flagged |= Q(pk__in=campaign[1])
    shared = _prompt_against_ratings(vote, strengths, limits)
    if shared is not None:
        findings.append(shared[0])
        flagged |= Q(session_key__in=shared[1])
    if findings:
        _exclude(flagged, findings, limits)
    return findings


def _exclude(which: Q, findings: list[Finding], limits: Thresholds) -> None:
    named = dict(ArenaModel.objects.filter(pk__in=[f.detail["model_id"] for f in findings if "model_id" in f.detail])
                 .values_list("pk", "name"))
    signals = [{"signal": f.signal, "scope": f.scope,
                **({"model": named.get(f.detail["model_id"], "?")} if "model_id" in f.detail else {}), **f.detail}
               for f in findings]
    evidence = {"rule": RULE, "version": VERSION, "at": timezone.now().isoformat(), "thresholds": limits.to_dict(),
                "signals": signals}
    with transaction.atomic():
        # Counted votes only, never reinstated ones: an admin's decision stands.
        flagged = list(Vote.objects.select_for_update(of=("self",)).filter(
            which, counts=True, reinstated_at__isnull=True, battle__mode="anonymous").values_list("pk", flat=True))
        Vote.objects.filter(pk__in=flagged).update(counts=False, excluded_reason=RULE, evidence=evidence)
        votes_changed(flagged)
