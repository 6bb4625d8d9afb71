"""Computing leaderboard snapshots from the votes that count."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from arena.models import Answer, ArenaModel, Battle, Vote
from ratings.aggregate import aggregate
from ratings.data import Battles
from ratings.leaderboard import compute_leaderboard
from ratings.outcomes import FROM_ARENA

from .models import Snapshot
from .rules import Rules, View, VoteRow, judged, split_counted, views
from .selectors import snapshot_latest

logger = logging.getLogger(__name__)

METHOD = "bradley_terry"
Progress = Callable[[str, int, int], None]  # (view, done, total)


def vote_rows(*, up_to: int | None = None) -> Iterator[VoteRow]:
    """Every vote (up to a vote id) with its battle's facts, in vote order."""
    queryset = Vote.objects.order_by("pk")
    if up_to is not None:
        queryset = queryset.filter(pk__lte=up_to)
    fields = ("pk", "battle_id", "battle__model_a_id", "battle__model_b_id", "outcome", "counts", "excluded_reason",
              "time_to_vote", "ip_hash", "created_at", "battle__turn_count", "battle__first_prompt_chars",
              "battle__has_code", "battle__language")
    for values in queryset.values_list(*fields).iterator(chunk_size=5000):
        yield VoteRow(*values)


def counted_rows(rules: Rules, *, up_to: int | None = None) -> tuple[list[VoteRow], dict[str, int]]:
    counted, excluded = split_counted(vote_rows(up_to=up_to), rules)
    excluded["failed_battle"] = Battle.objects.filter(status=Battle.Status.FAILED).count()
    return counted, dict(sorted(excluded.items()))


def snapshot_view(snapshot: Snapshot, rules: Rules) -> View:
    """The view a snapshot was computed for, rebuilt from its stored rules."""
    languages = {snapshot.view.partition(":")[2]} if snapshot.view.startswith("language:") else set()
    return next(v for v in views(languages, rules) if v.key == snapshot.view)


def snapshot_rows(snapshot: Snapshot) -> Iterator[VoteRow]:
    """Exactly the votes a snapshot was computed from, by its stored rules and view, streamed in vote order."""
    rules = Rules.from_filters(snapshot.filters)
    view = snapshot_view(snapshot, rules)
    first = snapshot.vote_id_min or 0
    for row, reason in judged(vote_rows(up_to=snapshot.vote_id_max), rules):
        if not reason and row.vote_id >= first and view.keep(row):
            yield row


def view_rows(snapshot: Snapshot) -> list[VoteRow]:
    """:func:`snapshot_rows` as a list."""
    return list(snapshot_rows(snapshot))


def battles_from_rows(rows: list[VoteRow], names: dict[int, str], *, style: bool = False) -> Battles:
    """The rows as integer arrays; model ids number the models in order of first appearance."""
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
    """Style counts summed over each battle's turns, per side; battles with an answer lacking them are left out."""
    sums: dict[int, dict[str, list[float]]] = {}
    incomplete: set[int] = set()
    wanted = set(battle_ids)
    answers = Answer.objects.filter(turn__battle_id__in=wanted).values_list("turn__battle_id", "side", "style")
    for battle_id, side, style in answers.iterator(chunk_size=5000):
        if not style or len(style) != 4:
            incomplete.add(battle_id)
            continue
        total = sums.setdefault(battle_id, {}).setdefault(side, [0.0] * 4)
        for i, value in enumerate(style):
            total[i] += float(value)
    return {b: (s["a"], s["b"]) for b, s in sums.items() if b not in incomplete and {"a", "b"} <= s.keys()}


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


def snapshot_refresh(*, rounds: int | None = None, seed: int | None = None, force: bool = False,
                     progress: Progress | None = None) -> list[Snapshot]:
    """Compute every view with enough votes into one new run of immutable snapshots.

    Returns nothing (and writes nothing) when there are no counted votes, or when nothing
    changed since the latest run unless ``force``.
    """
    rules = Rules.from_settings()
    counted, excluded = counted_rows(rules)
    if not counted:
        return []
    latest = snapshot_latest("overall")
    if not force and latest is not None and latest.vote_id_max == counted[-1].vote_id and latest.votes == len(counted):
        return []
    rounds = settings.ARENA_SNAPSHOT_ROUNDS if rounds is None else rounds
    seed = settings.ARENA_SNAPSHOT_SEED if seed is None else seed
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    run, now = uuid.uuid4(), timezone.now()
    snapshots = []
    for view in views({r.language for r in counted}, rules):
        kept = [r for r in counted if view.keep(r)]
        if not kept or (not view.always and len(kept) < rules.category_min_votes):
            continue
        snapshot = _snapshot_view(view, kept, names, rules, rounds=rounds, seed=seed, progress=progress)
        if snapshot is not None:
            snapshot.run, snapshot.computed_at, snapshot.excluded = run, now, excluded
            snapshots.append(snapshot)
    with transaction.atomic():
        for snapshot in snapshots:
            snapshot.save()
    return snapshots


def _snapshot_view(view: View, rows: list[VoteRow], names: dict[int, str], rules: Rules, *, rounds: int, seed: int,
                   progress: Progress | None) -> Snapshot | None:
    battles = battles_from_rows(rows, names, style=view.style_control)
    if battles.n_battles == 0:
        return None
    report = (lambda done, total: progress(view.key, done, total)) if progress else None
    board = compute_leaderboard(battles, ci="bootstrap", rounds=rounds, seed=seed, style_control=view.style_control,
                                progress=report)
    ids = [r.vote_id for r in rows]
    return Snapshot(
        view=view.key, title=view.title, vote_id_min=min(ids), vote_id_max=max(ids), votes=battles.n_battles,
        filters={**rules.to_filters(), "view": view.key, "description": view.description,
                 "style_control": view.style_control},
        method=METHOD, ci_method="bootstrap", rounds=rounds, seed=seed, code_version=code_version(),
        counts_hash=counts_hash(battles),
        # The names as they were, by model id: a model renamed later keeps its old name in this snapshot's export.
        result={**board.to_dict(), "model_names": {str(pk): names[pk] for r in rows for pk in (r.model_a, r.model_b)}},
    )
