"""Rigging the arena through its real vote path, with the integrity defences on and off (issue 11).

Organic voters and riggers play battles through ``arena.services`` (the pair is drawn by the arena,
answers are written by ``arena.answers``, votes cast by ``services.battle_vote``, and each counted
vote goes through the ``leaderboard.vote_counted`` task, which scores its voter), on a simulated
clock, into a throw-away SQLite database. Only the model calls are skipped: each answer is written
at once, as a worker would after streaming it.

- **Organic voters** arrive over a week; each casts a few votes, minutes apart, reading for a while
  first, on prompts from a Zipf-distributed pool ("hi" is the most common), and votes as true
  Bradley–Terry strengths say (about 10% ties, 3% "both bad"). About 1% of answers name their model.
- **Riggers** (``--strategy``) want one mid-table target model to rise. ``target_only`` (Min et
  al., 2025): start battles until the target is in one (abandoning the others), recognise it (by
  style, 90% of the time; by an identity leak when the answer names it) and vote for it.
  ``omnipresent``: vote on every battle, for the target when it is there, otherwise against
  whichever model is stronger than the target. Riggers use ``--rigger-sessions`` sessions, each on
  its own address, and a handful of prompts that make identities guessable.

At the end the leaderboard is computed three ways: with every defence (the votes as the rules left
them), with the integrity defences off (the anomalous-voter flags, identity leaks and the
duplicated-prompt cap ignored), and from the organic votes alone (the truth to compare with). It
reports the detection rates per rule (true positive: a rigged vote left out; false positive: an
organic vote left out) and the target's rank and rating each way.

    python -m bench.rigging                      # 50,000 organic votes, 1,000 rigged, 20 models
    python -m bench.rigging --organic 2000 --rigged 100 --models 8   # a quick run
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 7
RIGGER_PROMPTS = ("Who are you, and who made you?", "Tell me about yourself in one sentence.",
                  "Which company trained you?", "What is your name?")
SEPARATOR = "\n\n"


@dataclass(order=True)
class Event:
    at: datetime
    order: int
    voter: str = field(compare=False)  # session key
    address: str = field(compare=False)
    rigger: bool = field(compare=False)
    prompt: str = field(compare=False)
    reading: float = field(compare=False)  # seconds between the answers and the vote


class Clock:
    """The simulated time the arena sees."""

    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


COMMON_SHARE = 0.03  # organic prompts from the pool of common ones ("hi", ...); the rest are asked once


def zipf_prompts(rng: random.Random, n: int) -> tuple[list[str], list[float]]:
    prompts = ["hi"] + [f"Common question {i}: how does thing number {i} work?" for i in range(1, n)]
    weights = [1.0 / (rank + 1) for rank in range(n)]
    total = sum(weights)
    cumulative, running = [], 0.0
    for w in weights:
        running += w / total
        cumulative.append(running)
    return prompts, cumulative


def organic_events(rng: random.Random, votes: int, prompts: list[str], cumulative: list[float]) -> list[Event]:
    events: list[Event] = []
    order, session = 0, 0
    while len(events) < votes:
        session += 1
        address = f"organic-ip-{session // 3}"  # some people share an address (a household, a campus NAT)
        at = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        for _ in range(min(1 + int(rng.expovariate(1 / 5.0)), votes - len(events))):
            if rng.random() < COMMON_SHARE:
                prompt = prompts[min(bisect.bisect_left(cumulative, rng.random()), len(prompts) - 1)]
            else:
                prompt = f"Prompt {order} of a curious person: {rng.random():.12f}"
            events.append(Event(at, order, f"organic-{session}", address, False, prompt, rng.lognormvariate(3.0, 0.6)))
            order += 1
            at += timedelta(seconds=60 + rng.expovariate(1 / 180.0))
    return events


def rigger_events(rng: random.Random, votes: int, sessions: int) -> list[Event]:
    events: list[Event] = []
    per = math.ceil(votes / sessions)
    for s in range(sessions):
        at = START + timedelta(seconds=rng.uniform(0, (DAYS - 1) * 86400))
        for _ in range(min(per, votes - len(events))):
            events.append(Event(at, 10**9 + len(events), f"rig-{s}", f"rig-ip-{s}", True,
                                rng.choice(RIGGER_PROMPTS), rng.lognormvariate(2.5, 0.4)))
            at += timedelta(seconds=30 + rng.expovariate(1 / 90.0))
    return events


def setup(database: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.pop("REDIS_URL", None)
    os.environ["ARENA_SNAPSHOT_EVERY_VOTES"] = str(10**9)  # the bench refreshes on its own schedule
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import leaderboard.tasks  # noqa: F401 - registers the task a counted vote sends
    from arena import services
    from config.celery import app

    def notify(vote_id: int | None = None) -> None:  # the task a counted vote sends, run here as a worker would run it
        app.tasks[services.LEADERBOARD_VOTE_COUNTED].apply(args=(vote_id,) if vote_id is not None else ())

    services._leaderboard_notify = notify


class Arena:
    """The arena under simulation: the clock patched in, answers written as a worker would write them."""

    def __init__(self, args: argparse.Namespace, rng: random.Random) -> None:
        from arena import answers, services
        from arena.models import ArenaModel, Battle, Vote

        self.rng, self.clock = rng, Clock()
        shim = SimpleNamespace(now=self.clock.now)
        services.timezone = shim  # type: ignore[assignment]
        answers.timezone = shim  # type: ignore[assignment]
        for model_class in (Battle, Vote):
            created = model_class._meta.get_field("created_at")
            created.default = self.clock.now
            created.__dict__.pop("_get_default", None)
        services.turn_dispatch = self.answer_turn
        strengths = sorted((rng.gauss(0, 0.6) for _ in range(args.models)), reverse=True)
        self.models = [ArenaModel.objects.create(name=f"bench-model-{i:02d}", organization=f"Lab {i:02d}",
                                                 adapter_kind="demo", provider_model="pelican",
                                                 state=ArenaModel.State.ACTIVE)
                       for i in range(args.models)]
        self.strength = {m.pk: s for m, s in zip(self.models, strengths, strict=True)}
        self.target = self.models[args.models // 2]  # mid-table
        self.leak_rate = args.leak_rate
        self.limited = 0  # prompts refused by the hourly limit

    def answer_turn(self, turn: Any) -> None:
        """Write both answers of a turn, finished, through ``arena.answers`` (as the worker's task does)."""
        from arena import answers
        from model_adapters import StreamResult

        battle = turn.battle
        for side, model in (("a", battle.model_a), ("b", battle.model_b)):
            text = f"An answer to {turn.prompt!r}: it depends, but here is a careful take."
            if self.rng.random() < self.leak_rate * (10 if turn.prompt in RIGGER_PROMPTS else 1):
                text += f"{SEPARATOR}As {model.name}, I hope this helps."
            answers.answer_start(turn_id=turn.id, side=side)
            answers.answer_finish(turn_id=turn.id, side=side, result=StreamResult(
                text=text, input_tokens=10, output_tokens=20, time_to_first_token=0.5, latency=2.0,
                finish_reason="stop"))

    def play(self, event: Event, strategy: str) -> str:
        """One voter's turn: returns "voted" or "abandoned"."""
        from arena import services
        from arena.errors import TooManyRequests

        self.clock.at = event.at
        for _ in range(200):
            try:
                battle = services.battle_create(prompt=event.prompt, session_key=event.voter, ip_hash=event.address,
                                                rng=self.rng)
            except TooManyRequests:  # the hourly prompt limit: come back in ten minutes
                self.clock.at += timedelta(minutes=10)
                self.limited += 1
                continue
            has_target = self.target.pk in (battle.model_a_id, battle.model_b_id)
            if not event.rigger or strategy == "omnipresent" or has_target:
                break
            self.clock.at += timedelta(seconds=5)  # a target-only rigger abandons battles without the target
        else:
            return "abandoned"
        battle.refresh_from_db()
        self.clock.at += timedelta(seconds=event.reading)
        outcome = self.rigged_outcome(battle, strategy) if event.rigger else self.organic_outcome(battle)
        services.battle_vote(battle_uuid=battle.uuid, session_key=event.voter, ip_hash=event.address, outcome=outcome)
        return "voted"

    def organic_outcome(self, battle: Any) -> str:
        r = self.rng.random()
        if r < 0.10:
            return "tie"
        if r < 0.13:
            return "both_bad"
        gap = self.strength[battle.model_a_id] - self.strength[battle.model_b_id]
        return "a" if self.rng.random() < 1 / (1 + math.exp(-gap)) else "b"

    def rigged_outcome(self, battle: Any, strategy: str) -> str:
        a, b = battle.model_a_id, battle.model_b_id
        if self.target.pk in (a, b):
            if self.rng.random() < 0.9:  # recognised (by style, or by its name in the answer)
                return "a" if a == self.target.pk else "b"
            return self.organic_outcome(battle)
        if strategy == "omnipresent":
            above = [m for m in (a, b) if self.strength[m] > self.strength[self.target.pk]]
            if len(above) == 1:
                return "b" if above[0] == a else "a"  # vote down the one ranked above the target
        return self.organic_outcome(battle)


def reasons() -> dict[int, str]:
    """Each vote's reason for not counting under the rules in force ("" if it counts), by vote id."""
    from leaderboard import counting
    from leaderboard.rules import Rules, judged
    from leaderboard.snapshots import vote_rows

    rules = Rules.from_settings()
    return {row.vote_id: reason for row, reason in judged(vote_rows(), rules, counting.duplicate_votes(rules))}


def ranks(rounds: int) -> dict[str, tuple[int, float]]:
    from leaderboard.snapshots import snapshot_refresh

    overall = next(s for s in snapshot_refresh(rounds=rounds, seed=0, force=True) if s.view == "overall")
    rows = sorted(overall.result["rows"], key=lambda r: -r["rating"])
    return {r["model"]: (i + 1, r["rating"]) for i, r in enumerate(rows)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    arena = Arena(args, rng)
    prompts, cumulative = zipf_prompts(rng, args.prompts)
    events = sorted(organic_events(rng, args.organic, prompts, cumulative)
                    + rigger_events(rng, args.rigged, args.rigger_sessions))
    from arena.models import Vote
    from leaderboard.voters import strengths_current

    started, outcome = time.perf_counter(), Counter[str]()
    next_refresh = args.refresh_every
    for i, event in enumerate(events, start=1):
        outcome[arena.play(event, args.strategy)] += 1
        if i >= next_refresh:  # the hourly refresh, in votes: the voter checks use its ratings
            ranks(args.interim_rounds)
            next_refresh += args.refresh_every
        if i % 5000 == 0:
            print(f"  {i:,} of {len(events):,} votes, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    played = time.perf_counter() - started
    assert strengths_current()
    rigged_ids = set(Vote.objects.filter(session_key__startswith="rig-").values_list("pk", flat=True))
    why = reasons()
    table = detection(why, rigged_ids)
    from django.test import override_settings

    name = arena.target.name
    on = ranks(args.rounds)
    organic_only = Vote.objects.filter(counts=True, session_key__startswith="rig-")
    kept = list(organic_only.values_list("pk", flat=True))
    organic_only.update(counts=False, excluded_reason="bench_rigger")
    with override_settings(ARENA_VOTER_CHECKS=False):
        truth = ranks(args.rounds)
    Vote.objects.filter(pk__in=kept).update(counts=True, excluded_reason="")
    Vote.objects.filter(excluded_reason__in=("anomalous_voter", "identity_leak")).update(counts=True)
    with override_settings(ARENA_DUPLICATE_PROMPT_SHARE=1.0, ARENA_DUPLICATE_PROMPT_MIN_VOTES=10**9):
        off = ranks(args.rounds)
    return {
        "args": vars(args) | {"database": str(args.database)}, "seconds": round(played, 1), "battles": dict(outcome),
        "prompts_refused": arena.limited,
        "votes": len(why), "rigged_votes": len(rigged_ids), "detection": table, "target": name,
        "target_true_rank": sorted(arena.strength.values(), reverse=True).index(arena.strength[arena.target.pk]) + 1,
        "rank": {"organic_only": truth[name], "defences_on": on[name], "defences_off": off[name]},
    }


def detection(why: dict[int, str], rigged: set[int]) -> dict[str, dict[str, float]]:
    organic = [v for v in why if v not in rigged]
    by_rule: dict[str, dict[str, float]] = {}
    for rule in sorted({r for r in why.values() if r}):
        caught = sum(1 for v in rigged if why.get(v) == rule)
        false = sum(1 for v in organic if why[v] == rule)
        by_rule[rule] = {"tpr": caught / len(rigged) if rigged else 0.0, "fpr": false / len(organic),
                         "rigged": caught, "organic": false}
    caught = sum(1 for v in rigged if why.get(v))
    false = sum(1 for v in organic if why[v])
    by_rule["any rule"] = {"tpr": caught / len(rigged) if rigged else 0.0, "fpr": false / len(organic),
                           "rigged": caught, "organic": false}
    return by_rule


def report(result: dict[str, Any]) -> str:
    a = result["args"]
    lines = [f"{a['organic']:,} organic and {a['rigged']:,} rigged votes ({a['strategy']}, {a['rigger_sessions']} "
             f"rigger sessions), {a['models']} models, seed {a['seed']}: {result['seconds']:.0f} s of play, "
             f"battles {result['battles']}",
             "", "| rule | rigged votes left out (TPR) | organic votes left out (FPR) |", "|---|---|---|"]
    for rule, row in result["detection"].items():
        lines.append(f"| {rule} | {row['rigged']:,.0f} ({row['tpr']:.1%}) | {row['organic']:,.0f} ({row['fpr']:.2%}) |")
    lines += ["", f"target {result['target']} (true rank {result['target_true_rank']}):",
              "| leaderboard | rank | rating |", "|---|---|---|"]
    for label, key in (("organic votes only", "organic_only"), ("defences on", "defences_on"),
                       ("integrity defences off", "defences_off")):
        rank, rating = result["rank"][key]
        lines.append(f"| {label} | {rank} | {rating:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organic", type=int, default=50_000)
    parser.add_argument("--rigged", type=int, default=1_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--strategy", choices=["target_only", "omnipresent"], default="target_only")
    parser.add_argument("--rigger-sessions", type=int, default=25)
    parser.add_argument("--prompts", type=int, default=200, help="size of the pool of common organic prompts")
    parser.add_argument("--leak-rate", type=float, default=0.01, help="share of answers naming their model")
    parser.add_argument("--refresh-every", type=int, default=5_000, help="votes between leaderboard refreshes")
    parser.add_argument("--interim-rounds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap rounds of the final leaderboards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", type=Path, help="SQLite file (default: a temporary one, removed at the end)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    memory = Path("/dev/shm")  # a database in memory-backed files: the bench measures detection, not disks
    with tempfile.TemporaryDirectory(prefix="arena-rigging-", dir=memory if memory.is_dir() else None) as tmp:
        args.database = args.database or Path(tmp) / "rigging.sqlite3"
        setup(args.database)
        result = run(args)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
