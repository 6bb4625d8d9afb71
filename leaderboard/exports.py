"""Exports: leaderboards as CSV and JSON, battles as JSON lines in FastChat's clean-battle fields.

Battle exports are generators over chunked database iterators, so a million battles stream in
constant memory (the daily-cap rule keeps one counter per hashed address and day, nothing per
battle). A snapshot's battle export yields exactly the votes the snapshot was computed from, in
vote order, so ``python -m ratings`` on the file reproduces the snapshot.

Voters appear only as ``judge``: a keyed hash of the battle's session (or hashed address),
never the address or the session key itself.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.conf import settings
from django.urls import reverse

from arena.models import Answer, ArenaModel, Battle, Turn, TurnImage
from arena.selectors import models_disclosed, models_public
from ratings.cli import COLUMNS
from ratings.outcomes import winner_from_arena

from .counting import duplicate_votes
from .models import ImageRelease, Snapshot
from .rules import Rules, VoteRow, judged
from .snapshots import answer_styles, snapshot_rows, vote_rows

CSV_COLUMNS = (*COLUMNS, "organization", "license")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 500  # battles per enrichment query; also bounds the conversation text held at once


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet reads as a formula; numbers stay numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([csv_cell(c) for c in cells])
    return buffer.getvalue()


def leaderboard_csv(snapshot: Snapshot) -> str:
    """The snapshot's rows with the columns of ``python -m ratings --format csv``, plus organization and license.

    An unbounded interval side (stored as null with the row flag ``lower_unbounded`` or
    ``upper_unbounded``) is written ``-inf`` or ``inf``, which spreadsheets and ``float()`` read back.
    """
    models = models_public()
    lines = [csv_line(CSV_COLUMNS)]
    for row in snapshot.result["rows"]:
        about = models.get(row["model"], {})
        lines.append(csv_line([_cell(row, c) for c in COLUMNS] + [about.get("organization", ""),
                                                                  about.get("license", "")]))
    return "".join(lines)


def _cell(row: dict[str, Any], column: str) -> Any:
    flags = row.get("flags", [])
    if row.get(column) is None and column in ("lower", "upper") and f"{column}_unbounded" in flags:
        return -math.inf if column == "lower" else math.inf
    return row.get(column)


def snapshot_summary(snapshot: Snapshot) -> dict[str, Any]:
    """What a snapshot was computed from, without its rows."""
    args = [snapshot.pk]
    return {
        "id": snapshot.pk, "run": str(snapshot.run), "view": snapshot.view, "title": snapshot.title,
        "computed_at": snapshot.computed_at.isoformat(), "votes": snapshot.votes,
        "vote_id_min": snapshot.vote_id_min, "vote_id_max": snapshot.vote_id_max, "excluded": snapshot.excluded,
        "filters": snapshot.filters, "method": snapshot.method, "ci_method": snapshot.ci_method,
        "rounds": snapshot.rounds, "seed": snapshot.seed, "code_version": snapshot.code_version,
        "counts_hash": snapshot.counts_hash, "published": snapshot.published,
        "models": len(snapshot.result.get("rows", [])),
        "links": {"csv": reverse("leaderboard-snapshot-csv", args=args),
                  "json": reverse("leaderboard-snapshot-json", args=args),
                  "battles": reverse("leaderboard-snapshot-battles", args=args),
                  "api": reverse("api-snapshot", args=args)},
    }


def snapshot_document(snapshot: Snapshot) -> dict[str, Any]:
    """The whole snapshot: its summary, rows (with public model facts), engine metadata and matrices."""
    models = models_public()
    result = snapshot.result
    rows = [{**row, "organization": models.get(row["model"], {}).get("organization", ""),
             "license": models.get(row["model"], {}).get("license", "")} for row in result["rows"]]
    return {"snapshot": snapshot_summary(snapshot), "rows": rows, "parameters": result.get("parameters", []),
            "metadata": result.get("metadata", {}), "names": result.get("names", []),
            "matrices": result.get("matrices", {})}


def judge_pseudonym(session_key: str, ip_hash: str) -> str:
    """A stable pseudonymous voter id: a keyed hash of the session (or hashed address), never either itself."""
    secret = session_key or ip_hash
    if not secret:
        return ""
    digest = hmac.new(settings.ARENA_IP_SALT.encode(), b"judge:" + secret.encode(), hashlib.sha256)
    return "judge_" + digest.hexdigest()[:16]


@dataclass(frozen=True)
class ExportOptions:
    conversations: bool = False
    style: bool = False      # add FastChat conv_metadata; battles without complete style counts are left out
    audit: bool = False      # add vote_id, counted and excluded_reason (the all-battles export)
    image_links: str | None = None  # the site's base URL: link each image (a snapshot whose images an admin released)


def snapshot_battle_lines(snapshot: Snapshot, *, conversations: bool = False, base_url: str = "") -> Iterator[str]:
    """The battles a snapshot used, one JSON object per line, in vote order.

    A battle with images lists them (``images``: hash, size, type; never the pixels). With ``conversations``, the
    images of a snapshot an admin released (:class:`~leaderboard.models.ImageRelease`) also get a ``url`` under
    ``base_url``, where anyone may fetch them; no other export links to an image.
    """
    released = conversations and ImageRelease.objects.filter(snapshot=snapshot).exists()
    options = ExportOptions(conversations=conversations, style=bool(snapshot.filters.get("style_control")),
                            image_links=base_url if released else None)
    frozen = snapshot.result.get("model_names")  # older snapshots did not keep them: today's names
    names = {int(pk): name for pk, name in frozen.items()} if frozen else None
    yield from battle_lines(((row, "") for row in snapshot_rows(snapshot)), options, names=names)


def all_battle_lines(*, since: int = 0, conversations: bool = False) -> Iterator[str]:
    """Every voted battle after vote id ``since``, with whether it counts under the rules in force.

    Battles of a model the public may not know of (paused or deprecated, never in a counted vote: see
    ``arena.selectors.models_disclosed``) are left out, so the export never names one.
    """
    rules = Rules.from_settings()
    duplicates = duplicate_votes(rules)
    hidden = set(ArenaModel.objects.exclude(pk__in=models_disclosed().values("pk")).values_list("pk", flat=True))
    rows = ((row, reason) for row, reason in judged(vote_rows(), rules, duplicates)
            if row.vote_id > since and row.model_a not in hidden and row.model_b not in hidden)
    yield from battle_lines(rows, ExportOptions(conversations=conversations, audit=True))


def battle_lines(rows: Iterable[tuple[VoteRow, str]], options: ExportOptions,
                 names: dict[int, str] | None = None) -> Iterator[str]:
    """The rows as FastChat JSON lines; ``names`` by model id, today's names when not given."""
    names = names if names is not None else dict(ArenaModel.objects.values_list("pk", "name"))
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        ids = [row.battle_id for row, _ in chunk]
        facts: dict[int, list[Any]] = {pk: rest for pk, *rest in Battle.objects.filter(pk__in=ids).values_list(
            "pk", "uuid", "mode", "session_key", "ip_hash")}
        talks = _conversations(ids) if options.conversations else {}
        pictures = _images(ids, options.image_links)
        styles = answer_styles(ids) if options.style else {}
        for row, reason in chunk:
            if options.style and row.battle_id not in styles:
                continue
            record = _record(row, names, *facts[row.battle_id])
            if options.audit:
                record.update(vote_id=row.vote_id, counted=not reason, excluded_reason=reason)
            if row.battle_id in pictures:
                record["images"] = pictures[row.battle_id]
            if options.conversations:
                record["conversation_a"], record["conversation_b"] = talks.get(row.battle_id, ([], []))
            if options.style:
                record["conv_metadata"] = _conv_metadata(*styles[row.battle_id])
            yield json.dumps(record, ensure_ascii=False) + "\n"


def _record(row: VoteRow, names: dict[int, str], uuid: Any, mode: str, session_key: str, ip_hash: str
            ) -> dict[str, Any]:
    return {
        "question_id": uuid.hex, "model_a": names[row.model_a], "model_b": names[row.model_b],
        "winner": winner_from_arena(row.outcome), "judge": judge_pseudonym(session_key, ip_hash), "turn": row.turn_count,
        "anony": mode == Battle.Mode.ANONYMOUS, "language": row.language, "tstamp": row.created_at.timestamp(),
    }


def _images(battle_ids: list[int], links: str | None) -> dict[int, list[dict[str, Any]]]:
    """The images of each battle that has any, in turn and attachment order; with a ``url`` when ``links`` is set."""
    found: dict[int, list[dict[str, Any]]] = {}
    uses = (TurnImage.objects.filter(turn__battle_id__in=battle_ids).select_related("image")
            .order_by("turn__battle_id", "turn__index", "position")
            .values_list("turn__battle_id", "turn__index", "position", "image__sha256", "image__width",
                         "image__height", "image__size", "image__media_type"))
    for battle_id, turn, position, sha256, width, height, size, media_type in uses:
        entry: dict[str, Any] = {"turn": turn, "position": position, "sha256": sha256, "width": width,
                                 "height": height, "bytes": size, "media_type": media_type}
        if links is not None:
            entry["url"] = links + reverse("arena-image", args=[sha256])
        found.setdefault(battle_id, []).append(entry)
    return found


def _conversations(battle_ids: list[int]) -> dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """OpenAI-style message lists per side: each turn's prompt (with the SHA-256s of its images, if it has any),
    then that side's answer if it has one."""
    hashes: dict[tuple[int, int], list[str]] = {}
    for battle_id, index, sha256 in (TurnImage.objects.filter(turn__battle_id__in=battle_ids)
                                     .order_by("turn__battle_id", "turn__index", "position")
                                     .values_list("turn__battle_id", "turn__index", "image__sha256")):
        hashes.setdefault((battle_id, index), []).append(sha256)
    answers = {(b, i, side): text for b, i, side, text in Answer.objects.filter(turn__battle_id__in=battle_ids)
               .values_list("turn__battle_id", "turn__index", "side", "text")}
    talks: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    turns = Turn.objects.filter(battle_id__in=battle_ids).order_by("battle_id", "index")
    for battle_id, index, prompt in turns.values_list("battle_id", "index", "prompt"):
        sides = talks.setdefault(battle_id, ([], []))
        for side, messages in zip("ab", sides, strict=True):
            # Imported battles may hold an empty prompt or answer only to carry style counts.
            if prompt:
                message: dict[str, Any] = {"role": "user", "content": prompt}
                if (battle_id, index) in hashes:
                    message["images"] = hashes[battle_id, index]
                messages.append(message)
            if answers.get((battle_id, index, side)):
                messages.append({"role": "assistant", "content": answers[battle_id, index, side]})
    return talks


def _conv_metadata(style_a: list[float], style_b: list[float]) -> dict[str, float]:
    """Style counts in FastChat's conv_metadata fields, which ``python -m ratings --style-control`` reads."""
    fields = ("sum_assistant_{}_tokens", "header_count_{}", "list_count_{}", "bold_count_{}")
    metadata: dict[str, float] = {}
    for side, style in (("a", style_a), ("b", style_b)):
        metadata.update({field.format(side): value for field, value in zip(fields, style, strict=True)})
    return metadata
