"""Which votes count toward the leaderboard, and the views (categories) computed from them.

The rule set, applied in this order (the first rule a vote breaks is its reason); the thresholds
come from the settings named here and are stored with every snapshot:

1. ``not_counted:<why>`` — the vote was marked as not counting when it was cast, by one of
   ``arena.services.CAST_RULES`` (``side_by_side``: the voter chose the models, so the vote is not
   blind; ``incomplete_answer``; ``identity_leak``; ``admin_review``). An admin can reinstate it.
2. ``too_fast`` — cast less than ``ARENA_MIN_VOTE_SECONDS`` after the last answer finished,
   too soon to have read both answers. Imported votes carry no timing and pass.
3. ``ip_daily_cap`` — beyond the first ``ARENA_MAX_VOTES_PER_IP_PER_DAY`` votes from one
   (hashed) client address in one UTC day.
4. ``duplicate_prompt`` — of the votes that passed rules 1–3, a first prompt (by its normalised
   fingerprint, ``arena.prompts.prompt_fingerprint``) counts at most
   ``max(ARENA_DUPLICATE_PROMPT_MIN_VOTES, ARENA_DUPLICATE_PROMPT_SHARE × those votes)`` times; the
   votes kept of a more frequent prompt are a fixed pseudo-random sample (:func:`prompt_sample_key`).

Failed battles never get a vote; each snapshot also reports how many there were
(``failed_battle``). Votes on deprecated models count: a score is never retracted.

The views are filters on one fact of the vote's battle each (:data:`FACTS`). Rules and facts are
written twice: here in Python (:func:`judged`, :meth:`View.keep`: the reference, which the battle
exports stream through) and in SQL (:mod:`leaderboard.counting`, which the refresh aggregates in
the database; :data:`FACT_SQL`). ``tests/leaderboard/test_counting.py`` checks on randomised votes
that the two agree vote for vote; a change to one is a change to both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from arena.services import CAST_RULES

RULESET_VERSION = 2  # 2: the rules are listed by name and version (cast-time: identity leaks, incomplete answers)

#: The rules a snapshot applies itself, by name, version and the thresholds (fields of :class:`Rules`) they use.
REFRESH_RULES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("too_fast", 1, ("min_vote_seconds",)),
    ("ip_daily_cap", 1, ("max_votes_per_ip_per_day",)),
    ("duplicate_prompt", 1, ("duplicate_prompt_share", "duplicate_prompt_min_votes")),
)
#: Thresholds of snapshots stored before a rule existed: values under which the rule leaves nothing out.
RULE_ABSENT: dict[str, Any] = {"duplicate_prompt_share": 1.0, "duplicate_prompt_min_votes": 0, "style_min_votes": 1,
                               "rank_min_votes": 0, "vision_min_votes": 1}
SAMPLE_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: vote ids in a fixed, scrambled order
SAMPLE_MODULUS = 1 << 32


def prompt_sample_key(vote_id: int) -> tuple[int, int]:
    """The order in which a frequent prompt's votes are kept: a fixed scramble of the vote ids (the same in SQL)."""
    return (vote_id * SAMPLE_MULTIPLIER) % SAMPLE_MODULUS, vote_id


@dataclass(frozen=True)
class Rules:
    """The thresholds in force; stored in each snapshot so that it can be recomputed exactly."""

    min_vote_seconds: float
    max_votes_per_ip_per_day: int
    long_prompt_chars: int
    category_min_votes: int
    duplicate_prompt_share: float = 1.0
    duplicate_prompt_min_votes: int = 0
    style_min_votes: int = 1  # the style-controlled view's minimum (it fits four more parameters)
    rank_min_votes: int = 0  # a model with fewer votes in a view is fitted but not ranked
    vision_min_votes: int = 1  # the vision view's minimum (battles with images)

    @classmethod
    def from_settings(cls) -> Rules:
        return cls(
            min_vote_seconds=float(settings.ARENA_MIN_VOTE_SECONDS),
            max_votes_per_ip_per_day=settings.ARENA_MAX_VOTES_PER_IP_PER_DAY,
            long_prompt_chars=settings.ARENA_LONG_PROMPT_CHARS,
            category_min_votes=settings.ARENA_CATEGORY_MIN_VOTES,
            duplicate_prompt_share=float(settings.ARENA_DUPLICATE_PROMPT_SHARE),
            duplicate_prompt_min_votes=settings.ARENA_DUPLICATE_PROMPT_MIN_VOTES,
            style_min_votes=settings.ARENA_STYLE_MIN_VOTES,
            rank_min_votes=settings.ARENA_RANK_MIN_VOTES,
            vision_min_votes=settings.ARENA_VISION_MIN_VOTES,
        )

    @classmethod
    def from_filters(cls, filters: dict[str, Any]) -> Rules:
        return cls(**{name: filters[name] if name in filters else RULE_ABSENT[name]
                      for name in cls.__dataclass_fields__})

    def prompt_cap(self, votes: int) -> float:
        """How many of ``votes`` (those passing rules 1-3) one first prompt may have counted."""
        return max(float(self.duplicate_prompt_min_votes), self.duplicate_prompt_share * votes)

    def to_filters(self) -> dict[str, Any]:
        return {"ruleset": RULESET_VERSION, **{name: getattr(self, name) for name in self.__dataclass_fields__},
                "rules": rule_list(self)}


def rule_list(rules: Rules) -> list[dict[str, Any]]:
    """Every rule a vote is judged by, in order: those applied when it is cast (their decision is stored on the
    vote as ``not_counted:<name>``) and those the snapshot applies, each with its version and thresholds."""
    from .voters import RULE as VOTER_RULE
    from .voters import VERSION as VOTER_VERSION
    from .voters import Thresholds

    cast = [{"name": r.name, "version": r.version, "applied": "cast", "thresholds": dict(r.thresholds)}
            for r in CAST_RULES]
    voters = {"name": VOTER_RULE, "version": VOTER_VERSION, "applied": "after each vote",
              "thresholds": {**Thresholds.from_settings().to_dict(), "enabled": settings.ARENA_VOTER_CHECKS}}
    refresh = [{"name": name, "version": version, "applied": "snapshot",
                "thresholds": {field: getattr(rules, field) for field in fields}}
               for name, version, fields in REFRESH_RULES]
    return [*cast, voters, *refresh]


@dataclass(frozen=True)
class VoteRow:
    """One vote with the battle facts the rules and the views need."""

    vote_id: int
    battle_id: int
    model_a: int
    model_b: int
    outcome: str
    counts: bool
    excluded_reason: str
    time_to_vote: float | None
    ip_hash: str
    created_at: datetime
    turn_count: int
    first_prompt_chars: int
    has_code: bool
    language: str
    prompt_fingerprint: str = ""
    has_images: bool = False


def exclusion_reason(row: VoteRow, rules: Rules, votes_by_ip_day: Counter[tuple[str, str]]) -> str:
    """The first rule ``row`` breaks, or "" if it counts; ``votes_by_ip_day`` is updated as votes are seen."""
    if not row.counts:
        return f"not_counted:{row.excluded_reason or 'unspecified'}"
    if row.time_to_vote is not None and row.time_to_vote < rules.min_vote_seconds:
        return "too_fast"
    if row.ip_hash:
        key = (row.ip_hash, row.created_at.date().isoformat())
        votes_by_ip_day[key] += 1
        if votes_by_ip_day[key] > rules.max_votes_per_ip_per_day:
            return "ip_daily_cap"
    return ""


def judged(rows: Iterable[VoteRow], rules: Rules, duplicates: Collection[int] = ()) -> Iterator[tuple[VoteRow, str]]:
    """Each vote with the first rule it breaks ("" if it counts), streamed in the order given.

    ``rows`` must be every vote from the first, in id order: the daily cap depends on earlier votes.
    ``duplicates`` are the ids of the votes rule 4 leaves out, which depends on every vote: from
    :func:`duplicate_votes` (all the votes in a list) or ``leaderboard.counting.duplicate_votes`` (SQL).
    """
    seen: Counter[tuple[str, str]] = Counter()
    for row in rows:
        reason = exclusion_reason(row, rules, seen)
        if not reason and row.vote_id in duplicates:
            reason = "duplicate_prompt"
        yield row, reason


def duplicate_votes(rows: list[VoteRow], rules: Rules) -> set[int]:
    """The ids of the votes rule 4 leaves out, from every vote in id order (the reference for the SQL)."""
    passing = [row for row, reason in judged(rows, rules) if not reason]
    cap = rules.prompt_cap(len(passing))
    by_prompt: dict[str, list[int]] = {}
    for row in passing:
        if row.prompt_fingerprint:
            by_prompt.setdefault(row.prompt_fingerprint, []).append(row.vote_id)
    dropped: set[int] = set()
    for ids in by_prompt.values():
        if len(ids) > cap:
            ranked = sorted(ids, key=prompt_sample_key)
            dropped.update(vote_id for rank, vote_id in enumerate(ranked, start=1) if rank > cap)
    return dropped


def split_counted(rows: Iterable[VoteRow], rules: Rules) -> tuple[list[VoteRow], Counter[str]]:
    """The votes that count (in vote order) and how many were left out, by reason (see :func:`judged`).

    Holds every counted vote in a list: the reference for the tests and the benchmark's old path,
    not for the refresh, which counts in SQL (:mod:`leaderboard.counting`).
    """
    rows = list(rows)
    counted: list[VoteRow] = []
    excluded: Counter[str] = Counter()
    for row, reason in judged(rows, rules, duplicate_votes(rows, rules)):
        if reason:
            excluded[reason] += 1
        else:
            counted.append(row)
    return counted, excluded


#: The battle facts the views filter on, from a vote's row and the rules in force.
FACTS: dict[str, Callable[[VoteRow, Rules], bool | str]] = {
    "multi_turn": lambda row, rules: row.turn_count > 1,
    "long_prompt": lambda row, rules: row.first_prompt_chars >= rules.long_prompt_chars,
    "has_code": lambda row, rules: row.has_code,
    "has_images": lambda row, rules: row.has_images,
    "language": lambda row, rules: row.language,
}
#: The same facts in SQL, over the battle table aliased ``b``; ``%(long_prompt_chars)s`` is the rule's threshold.
FACT_SQL: dict[str, str] = {
    "multi_turn": "b.turn_count > 1",
    "long_prompt": "b.first_prompt_chars >= %(long_prompt_chars)s",
    "has_code": "b.has_code",
    "has_images": "b.has_images",
    "language": "b.language",
}
#: First-prompt languages that get no view of their own.
NO_LANGUAGE_VIEW = frozenset({"", "und"})


@dataclass(frozen=True)
class View:
    """A leaderboard view: the counted votes whose battle has ``fact == value`` (every counted vote if no fact)."""

    key: str
    title: str
    description: str
    rules: Rules
    fact: str | None = None
    value: bool | str = True
    style_control: bool = False

    def keep(self, row: VoteRow) -> bool:
        return self.fact is None or FACTS[self.fact](row, self.rules) == self.value

    @property
    def min_votes(self) -> int:
        """The counted votes below which the view is not computed: one for the overall view (a new arena shows
        its first vote), ``style_min_votes`` for the style-controlled view, ``vision_min_votes`` for the vision
        view, ``category_min_votes`` for the others."""
        if self.fact is None:
            return self.rules.style_min_votes if self.style_control else 1
        if self.fact == "has_images":
            return self.rules.vision_min_votes
        return self.rules.category_min_votes


def views(languages: Iterable[str], rules: Rules) -> Iterator[View]:
    """Every view: overall and style-controlled, the categories, and one per language seen."""
    long_prompt = rules.long_prompt_chars
    yield View("overall", "Overall", "Every counted vote.", rules)
    yield View("style_control", "Style-controlled", "Every counted vote, controlling for answer length and "
               "Markdown (headers, lists, bold).", rules, style_control=True)
    yield View("multi_turn", "Multi-turn", "Battles with follow-up questions.", rules, "multi_turn")
    yield View("long_prompt", "Long prompts", f"First prompt of {long_prompt} characters or more.", rules,
               "long_prompt")
    yield View("code", "Prompts with code", "First prompt contains code.", rules, "has_code")
    yield View("vision", "Vision", "Battles with at least one image in a prompt.", rules, "has_images")
    for language in sorted(set(languages) - NO_LANGUAGE_VIEW):
        yield View(f"language:{language}", f"Language: {language}", f"First prompt in language {language!r}.", rules,
                   "language", language)
