"""Computing leaderboard snapshots from the votes that count.

The refresh (:func:`snapshot_refresh`) counts the votes in the database (:mod:`leaderboard.counting`)
and hands the engine aggregated battles. The vote-by-vote functions here are the other path:
:func:`vote_rows`, :func:`snapshot_rows` and :func:`answer_styles` are what the battle exports
stream through; :func:`battles_from_rows` and :func:`view_rows` are kept only as the reference
that the tests (``tests/leaderboard/test_counting.py``) and the old-path baseline of
``bench/refresh.py`` hold the SQL path to, and no request or task calls them.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

import ratings.leaderboard as engine
from arena.models import Answer, ArenaModel, Vote
from ratings.aggregate import aggregate
from ratings.data import Battles
from ratings.fragility import leaderboard_fragility
from ratings.outcomes import FROM_ARENA
from ratings.style import STYLE_FEATURES

from . import counting, ledger
from .models import Snapshot
from .retention import first_of_day
from .rules import Rules, View, VoteRow, judged, views
from .selectors import snapshot_latest

logger = logging.getLogger(__name__)

METHOD = "bradley_terry"
Progress = Callable[[str, int, int], None]  # (view, done, total)


def vote_rows(*, up_to: int | None = None) -> Iterator[VoteRow]:
    """Every vote (up to a vote id) with its battle's facts, in vote order."""
    queryset = Vote.objects.order_by("pk")
    if up_to is not None:
        queryset = queryset.filter(pk__lte=up_to)
    yield from ledger.vote_rows(queryset)


def snapshot_view(snapshot: Snapshot, rules: Rules) -> View:
    """The view a snapshot was computed for, rebuilt from its stored rules."""
    languages = {snapshot.view.partition(":")[2]} if snapshot.view.startswith("language:") else set()
    return next(v for v in views(languages, rules) if v.key == snapshot.view)


def snapshot_rows(snapshot: Snapshot) -> Iterator[VoteRow]:
    """Exactly the votes a snapshot was computed from, by its stored rules and view, streamed in vote order."""
    rules = Rules.from_filters(snapshot.filters)
    view = snapshot_view(snapshot, rules)
    first = snapshot.vote_id_min or 0
    duplicates = counting.duplicate_votes(rules, up_to=snapshot.filters.get("votes_up_to", snapshot.vote_id_max))
    for row, reason in judged(vote_rows(up_to=snapshot.vote_id_max), rules, duplicates):
        if not reason and row.vote_id >= first and view.keep(row):
            yield row


def view_rows(snapshot: Snapshot) -> list[VoteRow]:
    """:func:`snapshot_rows` as a list (the reference for tests: memory grows with the votes)."""
    return list(snapshot_rows(snapshot))


def battles_from_rows(rows: list[VoteRow], names: dict[int, str], *, style: bool = False) -> Battles:
    """The rows as integer arrays; model ids number the models in order of first appearance.

    The vote-by-vote way the refresh built a view's battles before it counted in SQL, kept only as
    the reference the tests compare :mod:`leaderboard.counting` with (one Python object per vote).
    """
    styles = answer_styles([r.battle_id for r in rows]) if style else {}
    if style:
        rows = [r for r in rows if r.battle_id in styles]
    # Number models by first appearance, as the ratings loaders do for a file: the bootstrap's draws follow
    # the numbering, so an exported file gives the command line the same intervals as the snapshot.
    present = list(dict.fromkeys(pk for r in rows for pk in (r.model_a, r.model_b)))
    index = {pk: i for i, pk in enumerate(present)}
    return Battles(
        model_a=np.fromiter((index[r.model_a] for r in rows), np.int64, len(rows)),
        model_b=np.fromiter((index[r.model_b] for r in rows), np.int64, len(rows)),
        outcome=np.fromiter((FROM_ARENA[r.outcome] for r in rows), np.int8, len(rows)),
        names=[names[pk] for pk in present],
        tstamp=np.fromiter((r.created_at.timestamp() for r in rows), np.float64, len(rows)),
        style_a=np.array([styles[r.battle_id][0] for r in rows]).reshape(len(rows), 4) if style else None,
        style_b=np.array([styles[r.battle_id][1] for r in rows]).reshape(len(rows), 4) if style else None,
    )


def answer_styles(battle_ids: list[int]) -> dict[int, tuple[list[float], list[float]]]:
    """Style counts summed over each battle's turns, per side.

    Battles with an answer lacking them (style not a list of four numbers) or with no answer on a
    side are left out; :func:`leaderboard.counting.battle_styles_fill` applies the same test in SQL.
    """
    sums: dict[int, dict[str, list[float]]] = {}
    incomplete: set[int] = set()
    wanted = set(battle_ids)
    answers = Answer.objects.filter(turn__battle_id__in=wanted).values_list("turn__battle_id", "side", "style")
    for battle_id, side, style in answers.iterator(chunk_size=5000):
        if not _style_complete(style):
            incomplete.add(battle_id)
            continue
        total = sums.setdefault(battle_id, {}).setdefault(side, [0.0] * len(STYLE_FEATURES))
        for i, value in enumerate(style):
            total[i] += float(value)
    return {b: (s["a"], s["b"]) for b, s in sums.items() if b not in incomplete and {"a", "b"} <= s.keys()}


def _style_complete(style: Any) -> bool:
    return (isinstance(style, list) and len(style) == len(STYLE_FEATURES)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in style))


def counts_hash(battles: Battles) -> str:
    """SHA-256 of the model names and the aggregated (pair, outcome) counts."""
    pairs = aggregate(battles)
    digest = hashlib.sha256("\n".join(battles.names).encode())
    for array in (pairs.first, pairs.second, pairs.counts):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


@cache
def code_version() -> str:
    version = metadata.version("arena") if _installed() else "unknown"
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+{commit}"


def _installed() -> bool:
    try:
        metadata.version("arena")
    except metadata.PackageNotFoundError:
        return False
    return True


def leaderboard_method() -> tuple[str, dict[str, str]]:
    """The method preset of ``ARENA_LEADERBOARD_METHOD`` and its options for ``compute_leaderboard``."""
    key = settings.ARENA_LEADERBOARD_METHOD
    if key not in engine.METHODS:
        raise ImproperlyConfigured(f"ARENA_LEADERBOARD_METHOD must be one of {', '.join(sorted(engine.METHODS))}; "
                                   f"got {key!r}")
    return key, dict(engine.METHODS[key])


def snapshot_refresh(*, rounds: int | None = None, seed: int | None = None, force: bool = False,
                     progress: Progress | None = None) -> list[Snapshot]:
    """Compute every view with enough votes into one new run of immutable snapshots.

    The votes are counted in the database (:mod:`leaderboard.counting`): memory holds the
    (pair, outcome, battle facts) cells, and for the style-controlled view one compact row per
    counted battle, never an object per vote. Returns nothing (and writes nothing) when there are no
    counted votes, or when nothing changed since the latest run unless ``force``; otherwise the run's snapshots
    as stored, in view order, each ``result`` read from the database when first used (a run's results would
    otherwise all be held at once).
    """
    rules = Rules.from_settings()
    method, options = leaderboard_method()
    with counting.consistent_reads():
        judgement = ledger.ledger_advance(rules)
        tally = judgement.tally()
        if not tally.votes:
            return []
        latest = snapshot_latest("overall")
        if not force and latest is not None and latest.vote_id_max == tally.last_vote and latest.votes == tally.votes:
            return []
        names = dict(ArenaModel.objects.values_list("pk", "name"))
        fresh = fresh_record(judgement.fresh_votes())
        style = judgement.style_battles(names)  # uses the judgement up
        del judgement
    rounds = settings.ARENA_SNAPSHOT_ROUNDS if rounds is None else rounds
    seed = settings.ARENA_SNAPSHOT_SEED if seed is None else seed
    overall = counting.view_battles(tally.cells, next(views((), rules)), names)
    assert overall is not None  # there are counted votes
    run, now = uuid.uuid4(), timezone.now()
    computed: dict[str, Pending] = {}
    ordered = list(views(tally.languages, rules))
    # The style-controlled view first, so that its per-battle arrays are freed before the other views are fitted.
    for view in sorted(ordered, key=lambda v: not v.style_control):
        if view.style_control:
            found, style = style, None
        else:
            found = counting.view_battles(tally.cells, view, names)
        if found is None or found.battles.n_battles < view.min_votes:
            continue
        computing = Computing(view, rules, method, options, rounds, seed, progress)
        pending = computing.snapshot(found, overall)
        del found
        snapshot = pending.snapshot
        snapshot.run, snapshot.computed_at, snapshot.excluded = run, now, tally.excluded
        # The duplicated-prompt rule depends on every vote up to the last one the refresh saw: kept to recompute it.
        snapshot.filters["votes_up_to"] = tally.seen
        if fresh["models"]:
            pending.extra["fresh"] = fresh
        computed[view.key] = pending
    keys = [v.key for v in ordered if v.key in computed]
    with transaction.atomic():
        published = first_of_day(now)  # see leaderboard/retention.py
        for key in keys:
            # Each result becomes JSON-ready objects only now, one at a time (with 300 models a result's matrices
            # are some 10 MB of Python floats), and is dropped once saved.
            pending = computed.pop(key)
            pending.snapshot.published = published
            pending.snapshot.result = pending.result()
            pending.snapshot.save()
            del pending
    # The run as stored; each result is read when first used.
    stored = {s.view: s for s in Snapshot.objects.filter(run=run).defer("result")}
    return [stored[key] for key in keys]


def fresh_record(counted: dict[int, int]) -> dict[str, Any]:
    """The fresh-vote provisional rule's figures for a run: each model tested in two or more variants before its
    release, with its release date and ``counted``, the counted votes cast on it since, by model id
    (docs/integrity.md)."""
    tested = ArenaModel.objects.filter(prerelease_variants__gte=2).values_list("pk", "name", "prerelease_variants",
                                                                               "released_at")
    models = {name: {"variants": variants, "released_at": released.isoformat() if released else None,
                     "fresh_votes": counted.get(pk, 0)} for pk, name, variants, released in tested}
    return {"required": settings.ARENA_FRESH_VOTES, "models": models}


@dataclass
class Pending:
    """A computed snapshot not saved yet: its result is built from the engine's leaderboard when it is saved."""

    snapshot: Snapshot
    board: engine.Leaderboard
    extra: dict[str, Any]
    model_names: dict[str, str]

    def result(self) -> dict[str, Any]:
        return {**self.board.to_dict(), **self.extra, "model_names": self.model_names}


@dataclass(frozen=True)
class Computing:
    """How one view of a run is computed: the rules, the method preset and the bootstrap's rounds and seed."""

    view: View
    rules: Rules
    method: str
    options: dict[str, str]
    rounds: int
    seed: int
    progress: Progress | None

    def interval_method(self, votes: int) -> str:
        """The preset's intervals, except sandwich for a view too large to bootstrap: above
        ``ARENA_STYLE_BOOTSTRAP_MAX_VOTES`` for the style-controlled view (refitted per battle),
        above ``ARENA_BOOTSTRAP_MAX_VOTES`` for the others."""
        ci = self.options["ci"]
        if ci == "bootstrap" and votes > self.bootstrap_max_votes:
            return "sandwich"
        return ci

    @property
    def bootstrap_max_votes(self) -> int:
        if self.view.style_control:
            return int(settings.ARENA_STYLE_BOOTSTRAP_MAX_VOTES)
        return int(settings.ARENA_BOOTSTRAP_MAX_VOTES)

    def snapshot(self, found: counting.ViewBattles, overall: counting.ViewBattles) -> Pending:
        battles, view = found.battles, self.view
        ci = self.interval_method(battles.n_battles)
        progress = self.progress
        report = (lambda done, total: progress(view.key, done, total)) if progress else None
        board = engine.compute_leaderboard(battles, ci=ci, reweight=self.options["reweight"], rounds=self.rounds,
                                           seed=self.seed, style_control=view.style_control, progress=report,
                                           elo_k=None, min_rank_battles=self.rules.rank_min_votes)
        extra: dict[str, Any] = {}
        if not view.style_control and settings.ARENA_FRAGILITY_TOP:
            extra["fragility"] = leaderboard_fragility(battles, top=settings.ARENA_FRAGILITY_TOP,
                                                       min_rank_battles=self.rules.rank_min_votes)
        filters: dict[str, Any] = {**self.rules.to_filters(), "view": view.key, "description": view.description,
                                   "style_control": view.style_control, "leaderboard_method": self.method}
        if ci != self.options["ci"]:
            key = "style_bootstrap_max_votes" if view.style_control else "bootstrap_max_votes"
            filters[key] = self.bootstrap_max_votes
        # The style-controlled view keeps every counted vote's id range and models, as it did vote by vote.
        scope = overall if view.style_control else found
        snapshot = Snapshot(
            view=view.key, title=view.title, vote_id_min=scope.vote_id_min, vote_id_max=scope.vote_id_max,
            votes=battles.n_battles, filters=filters, method=METHOD, ci_method=ci,
            rounds=self.rounds if ci == "bootstrap" else 0, seed=self.seed, code_version=code_version(),
            counts_hash=counts_hash(battles),
        )
        # The names as they were, by model id: a model renamed later keeps its old name in this snapshot's export.
        return Pending(snapshot, board, extra, dict(zip(map(str, scope.models), scope.battles.names, strict=True)))
