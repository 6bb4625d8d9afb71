"""Importing battles from a FastChat clean-battle file (a Chatbot Arena dump, or the bundled LLMFAO file).

Records are read and validated by the same code as ``python -m ratings`` (:mod:`ratings.data`),
so a line the command line would skip is rejected here with the same line number and reason.
Models named in the file are created as needed, paused and with no adapter: they are known only
from imported results, appear on the leaderboard and never battle. Each battle is stored with
its source and an external id (``question_id``, else a hash of the line and its number), so a
second import of the same file skips what is already there.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ratings.booleans import parse_bool
from ratings.data import Problem, battles_from_records, read_records
from ratings.outcomes import arena_from_winner
from ratings.style import STYLE_FEATURES, style_counts, style_from_metadata

from .models import Answer, ArenaModel, Battle, Turn, Vote
from .prompts import prompt_fingerprint, prompt_has_code, prompt_language
from .services import vote_exclusion

Progress = Callable[[int, int], None]  # (records done, records in the file)
BATCH = 1000
NAME_MAX = ArenaModel._meta.get_field("name").max_length or 100
SOURCE_MAX = Battle._meta.get_field("source").max_length or 100


@dataclass
class ImportSummary:
    """What an import did: battles created, skipped as already imported, and rejected lines by reason."""

    created: int = 0
    skipped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    models_created: list[str] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected[reason] += 1
        self.problems.append(Problem(line, reason))


@dataclass(frozen=True)
class Incoming:
    """One valid record, ready to write."""

    line: int
    external_id: str
    model_a: str
    model_b: str
    outcome: str
    anony: bool
    created_at: datetime
    turn_count: int
    language: str
    judge: str
    question_uuid: uuid.UUID | None
    turns: list[tuple[str, str | None, str | None]]  # (prompt, answer of A, answer of B)
    style: tuple[float, ...] | None  # FastChat conv_metadata: the four style counts of A, then of B

    def stored_turns(self) -> list[tuple[str, str | None, str | None]]:
        """The turns to store; style counts need answers to hold them, so a styled battle has at least one."""
        return self.turns or ([("", None, None)] if self.style else [])

    def answer_style(self, index: int, side: str, text: str | None) -> list[float]:
        """conv_metadata's counts on the first turn (zeros on later ones), else counted from the text."""
        if self.style is not None:
            offset = 0 if side == "a" else len(STYLE_FEATURES)
            return list(self.style[offset:offset + len(STYLE_FEATURES)]) if index == 1 else [0.0] * len(STYLE_FEATURES)
        return list(style_counts(text)) if text is not None else []


def file_records(path: str | Path) -> list[tuple[int, Mapping[str, Any]]]:
    """``(line, record)`` pairs from a JSON list, JSON lines or CSV file, chosen as ``python -m ratings`` does."""
    return list(read_records(path))


def battles_import(path: str | Path, *, source: str, progress: Progress | None = None) -> ImportSummary:
    """Load a FastChat-format battle file into the database, idempotently.

    Parameters
    ----------
    path
        The battle file (``.json`` list, ``.jsonl`` or ``.csv``).
    source
        Where the battles come from; with each battle's external id it identifies the battle,
        so importing the same file under the same source twice creates nothing the second time.
    progress
        Called as ``progress(done, total)`` after each batch.

    Raises
    ------
    ValueError
        When the file cannot be parsed at all (naming the line).
    """
    if not 0 < len(source) <= SOURCE_MAX:
        raise ValueError(f"the source must be a name of 1 to {SOURCE_MAX} characters")
    records = file_records(path)
    summary, seen, now = ImportSummary(), set[str](), timezone.now()
    for start in range(0, len(records), BATCH):
        incoming = _validated(records[start:start + BATCH], summary, seen, now)
        with transaction.atomic():
            _write(incoming, source, summary)
        if progress is not None:
            progress(min(start + BATCH, len(records)), len(records))
    summary.problems.sort(key=lambda p: p.line)
    return summary


def _validated(chunk: Sequence[tuple[int, Mapping[str, Any]]], summary: ImportSummary, seen: set[str],
               now: datetime) -> list[Incoming]:
    _, problems = battles_from_records(chunk)
    failed = {p.line: p.reason for p in problems}
    incoming = []
    for line, record in chunk:
        reason = failed.get(line)
        parsed = _incoming(line, record, now) if reason is None else reason
        if isinstance(parsed, Incoming) and parsed.external_id in seen:
            parsed = f"duplicate question_id {parsed.external_id!r}"
        if isinstance(parsed, str):
            summary.reject(line, parsed)
            continue
        seen.add(parsed.external_id)
        incoming.append(parsed)
    return incoming


def _incoming(line: int, record: Mapping[str, Any], now: datetime) -> Incoming | str:
    name_a, name_b = str(record["model_a"]), str(record["model_b"])
    if max(len(name_a), len(name_b)) > NAME_MAX:
        return f"model name longer than {NAME_MAX} characters"
    if float(record.get("count", 1)) != 1 or float(record.get("weight", 1)) != 1:
        return "aggregated or weighted records cannot be imported as single battles"
    turn = record.get("turn", None)
    if turn is not None and (not str(turn).isdigit() or int(turn) < 1):
        return f"turn must be a positive whole number, got {turn!r}"
    question_id = str(record.get("question_id") or "")
    if len(question_id) > 200:
        return "question_id longer than 200 characters"
    tstamp = float(record["tstamp"]) if record.get("tstamp") not in (None, "") else math.nan
    if not math.isnan(tstamp) and not (0 <= tstamp < 32503680000):
        return f"tstamp out of range: {record['tstamp']!r}"
    turns = _turns(record)
    first_prompt = turns[0][0] if turns else ""
    language = str(record.get("language") or "")
    language = "" if language.lower() == "unknown" else language[:16]
    anony = parse_bool(record.get("anony", True)) is not False  # battles_from_records rejected non-booleans
    metadata = record.get("conv_metadata")
    return Incoming(
        line=line, external_id=question_id or _line_id(line, record), model_a=name_a, model_b=name_b,
        outcome=arena_from_winner(str(record["winner"])), anony=anony,
        created_at=now if math.isnan(tstamp) else datetime.fromtimestamp(tstamp, tz=UTC),
        turn_count=int(turn) if turn is not None else max(len(turns), 1),
        language=language or (prompt_language(first_prompt) if first_prompt else ""),
        judge=str(record.get("judge", record.get("worker", "")) or ""), question_uuid=_as_uuid(question_id),
        turns=turns, style=style_from_metadata(metadata) if isinstance(metadata, Mapping) else None,
    )


def _line_id(line: int, record: Mapping[str, Any]) -> str:
    content = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return f"line{line}-{hashlib.sha256(content.encode()).hexdigest()[:24]}"


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _turns(record: Mapping[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """Prompts and answers from ``conversation_a``/``conversation_b`` (OpenAI-style messages), else ``prompt``."""
    sides = [_exchanges(record.get(f"conversation_{side}")) for side in "ab"]
    if sides[0]:
        answers_b = {i: answer for i, (_, answer) in enumerate(sides[1])}
        return [(prompt, answer, answers_b.get(i)) for i, (prompt, answer) in enumerate(sides[0])]
    prompt = record.get("prompt")
    return [(prompt, None, None)] if isinstance(prompt, str) and prompt else []


def _exchanges(messages: Any) -> list[tuple[str, str | None]]:
    if not isinstance(messages, list):
        return []
    exchanges: list[tuple[str, str | None]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role, content = message.get("role"), message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if role == "user":
            exchanges.append((text, None))
        elif role == "assistant" and exchanges and exchanges[-1][1] is None:
            exchanges[-1] = (exchanges[-1][0], text)
    return exchanges


def _write(incoming: list[Incoming], source: str, summary: ImportSummary) -> None:
    existing = set(Battle.objects.filter(source=source, external_id__in=[i.external_id for i in incoming])
                   .values_list("external_id", flat=True))
    fresh = [i for i in incoming if i.external_id not in existing]
    summary.skipped += len(incoming) - len(fresh)
    if not fresh:
        return
    models = _models_for(fresh, summary)
    taken = set(Battle.objects.filter(uuid__in=[i.question_uuid for i in fresh if i.question_uuid])
                .values_list("uuid", flat=True))
    battles = Battle.objects.bulk_create([_battle(i, source, models, taken) for i in fresh])
    turns = [(battle, item, index, turn) for battle, item in zip(battles, fresh, strict=True)
             for index, turn in enumerate(item.stored_turns(), start=1)]
    turn_rows = Turn.objects.bulk_create([Turn(battle=b, index=index, prompt=t[0]) for b, _, index, t in turns])
    Answer.objects.bulk_create([
        Answer(turn=row, side=side, status=Answer.Status.DONE, text=text or "", style=item.answer_style(index, side, text))
        for row, (_, item, index, turn) in zip(turn_rows, turns, strict=True)
        for side, text in (("a", turn[1]), ("b", turn[2])) if text is not None or item.style is not None
    ])
    Vote.objects.bulk_create([
        Vote(battle=battle, outcome=item.outcome, counts=not vote_exclusion(battle.mode),
             excluded_reason=vote_exclusion(battle.mode), time_to_vote=None, session_key=battle.session_key,
             ip_hash="", created_at=item.created_at)
        for battle, item in zip(battles, fresh, strict=True)
    ])
    summary.created += len(fresh)


def _battle(item: Incoming, source: str, models: Mapping[str, ArenaModel], taken: set[uuid.UUID]) -> Battle:
    prompt = item.turns[0][0] if item.turns else ""
    judge = "import:" + hashlib.sha256(f"{source}\0{item.judge}".encode()).hexdigest()[:32] if item.judge else ""
    battle = Battle(
        mode=Battle.Mode.ANONYMOUS if item.anony else Battle.Mode.SIDE_BY_SIDE, model_a=models[item.model_a],
        model_b=models[item.model_b], status=Battle.Status.VOTED, session_key=judge, ip_hash="",
        created_at=item.created_at, ready_at=item.created_at, turn_count=item.turn_count,
        first_prompt_chars=len(prompt), has_code=prompt_has_code(prompt) if prompt else False,
        prompt_fingerprint=prompt_fingerprint(prompt),
        language=item.language, source=source, external_id=item.external_id,
    )
    if item.question_uuid is not None and item.question_uuid not in taken:
        battle.uuid = item.question_uuid
        taken.add(item.question_uuid)
    return battle


def _models_for(items: Iterable[Incoming], summary: ImportSummary) -> dict[str, ArenaModel]:
    """The models the battles name, creating missing ones paused and without an adapter."""
    wanted = {name for item in items for name in (item.model_a, item.model_b)}
    found = {m.name: m for m in ArenaModel.objects.filter(name__in=wanted)}
    missing = sorted(wanted - found.keys())
    if missing:
        ArenaModel.objects.bulk_create([ArenaModel(name=name, adapter_kind="", state=ArenaModel.State.PAUSED)
                                        for name in missing])
        found.update({m.name: m for m in ArenaModel.objects.filter(name__in=missing)})
        summary.models_created.extend(missing)
    return found
