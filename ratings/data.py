"""Battles as integer arrays, and loaders for FastChat-style battle files.

A battle is one vote between two models. The core works on integer model ids and numpy arrays;
names live only in ``Battles.names``. Loaders never drop a bad record silently: every skipped
record comes back as a :class:`Problem` with its line number.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ratings.booleans import parse_bool
from ratings.outcomes import FROM_WINNER
from ratings.style import STYLE_FEATURES, style_from_metadata


@dataclass(frozen=True)
class Problem:
    """A record that was skipped while loading, with the 1-based line (or row) it came from."""

    line: int
    reason: str


@dataclass(frozen=True)
class Battles:
    """Battles between models identified by integer ids ``0 .. len(names) - 1``.

    ``weights`` are relative importances of battles. ``counts``, for already aggregated data, says
    how many identical battles each row stands for (the bootstrap resamples those battles, not
    rows). ``style_a`` and ``style_b`` hold raw per-answer style counts, shape
    ``(n, len(STYLE_FEATURES))``.
    """

    model_a: NDArray[np.int64]
    model_b: NDArray[np.int64]
    outcome: NDArray[np.int8]
    names: list[str]
    weights: NDArray[np.float64] | None = None
    tstamp: NDArray[np.float64] | None = None
    anony: NDArray[np.bool_] | None = None
    style_a: NDArray[np.floating[Any]] | None = None  # float32 holds counts below 2**24 exactly, in half the memory
    style_b: NDArray[np.floating[Any]] | None = None
    counts: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        n = len(self.model_a)
        for field in ("model_b", "outcome", "weights", "tstamp", "anony", "style_a", "style_b", "counts"):
            value = getattr(self, field)
            if value is not None and len(value) != n:
                raise ValueError(f"{field} has {len(value)} entries, model_a has {n}")
        if n and (min(self.model_a.min(), self.model_b.min()) < 0 or
                  max(self.model_a.max(), self.model_b.max()) >= len(self.names)):
            raise ValueError("model ids must lie in 0 .. len(names) - 1")
        if np.any(self.model_a == self.model_b):
            raise ValueError("a model cannot battle itself")
        if n and (self.outcome.min() < 0 or self.outcome.max() > 3):
            raise ValueError("outcomes must be 0 (A), 1 (B), 2 (tie) or 3 (both bad)")
        if self.counts is not None and (np.any(self.counts < 0) or np.any(self.counts != np.round(self.counts))):
            raise ValueError("counts must be non-negative whole numbers")

    def __len__(self) -> int:
        return len(self.model_a)

    @property
    def n_models(self) -> int:
        return len(self.names)

    @property
    def n_battles(self) -> int:
        """The number of battles: rows, or the sum of ``counts`` for aggregated data."""
        return len(self) if self.counts is None else int(self.counts.sum())

    def frequencies(self) -> NDArray[np.float64]:
        """How many battles each row stands for (ones unless ``counts`` is given)."""
        return np.ones(len(self)) if self.counts is None else np.asarray(self.counts, dtype=np.float64)

    @property
    def has_style(self) -> bool:
        return self.style_a is not None and self.style_b is not None

    def select(self, mask: NDArray[np.bool_]) -> Battles:
        """Return the battles where ``mask`` is true, keeping every model id and name."""

        def pick(x: NDArray[Any] | None) -> NDArray[Any] | None:
            return None if x is None else x[mask]

        return Battles(
            model_a=self.model_a[mask],
            model_b=self.model_b[mask],
            outcome=self.outcome[mask],
            names=list(self.names),
            weights=pick(self.weights),
            tstamp=pick(self.tstamp),
            anony=pick(self.anony),
            style_a=pick(self.style_a),
            style_b=pick(self.style_b),
            counts=pick(self.counts),
        )


def battles_from_records(records: Iterable[tuple[int, Mapping[str, Any]]]) -> tuple[Battles, list[Problem]]:
    """Build :class:`Battles` from ``(line, record)`` pairs in FastChat's clean-battle fields.

    Parameters
    ----------
    records
        Pairs of a 1-based line number and a mapping with ``model_a``, ``model_b`` and ``winner``
        (one of ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``, ``both_bad``), optionally
        ``tstamp``, ``anony``, ``weight``, ``count`` (identical battles the record stands for, for
        aggregated files) and ``conv_metadata`` (FastChat's style counts).

    Returns
    -------
    battles, problems
        The valid battles, models numbered in order of first appearance, and one :class:`Problem`
        per skipped record.
    """
    ids: dict[str, int] = {}
    rows: list[_Row] = []
    problems: list[Problem] = []
    for line, record in records:
        parsed = _parse_record(record)
        if isinstance(parsed, str):
            problems.append(Problem(line, parsed))
            continue
        name_a, name_b, row = parsed
        a = ids.setdefault(name_a, len(ids))
        b = ids.setdefault(name_b, len(ids))
        rows.append(row._replace(a=a, b=b))
    return _battles_from_rows(rows, list(ids)), problems


def load_battles(path: str | Path) -> tuple[Battles, list[Problem]]:
    """Load battles from a JSON list, JSON lines or CSV file in FastChat's clean-battle fields.

    The format is taken from the extension (``.csv``, ``.jsonl``/``.ndjson``, ``.json``) and,
    for anything else, from the first non-blank character of the file.

    Returns
    -------
    battles, problems
        The valid battles and one :class:`Problem` (line number and reason) per skipped record.
        A file that cannot be parsed at all raises ``ValueError`` naming the line.
    """
    return battles_from_records(read_records(path))


def read_records(path: str | Path) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """The records of a battle file with their line numbers, whatever its format (see :func:`load_battles`)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    stripped = text.lstrip()
    if suffix == ".csv":
        return _csv_records(text)
    if suffix in (".jsonl", ".ndjson") or (suffix != ".json" and stripped.startswith("{")):
        return _json_lines_records(text)
    if stripped.startswith("["):
        return _json_list_records(text)
    if suffix == ".json":
        return _json_lines_records(text)
    return _csv_records(text)


def _json_list_records(text: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    # Parse once for correctness, then find each element's line with a raw decoder pass.
    decoder = json.JSONDecoder()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"line {error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(data, list):
        raise ValueError("line 1: a JSON battle file must hold a list of objects")
    position = text.index("[") + 1
    line, counted = 1, 0
    for item in data:
        while text[position] in " \t\r\n,":
            position += 1
        line += text.count("\n", counted, position)
        counted = position
        _, position = decoder.raw_decode(text, position)
        yield line, item if isinstance(item, Mapping) else {"__not_an_object__": item}


def _json_lines_records(text: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as error:
            yield line, {"__invalid_json__": error.msg}
            continue
        yield line, item if isinstance(item, Mapping) else {"__not_an_object__": item}


def _csv_records(text: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    for row in reader:
        yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}


class _Row(NamedTuple):
    a: int
    b: int
    outcome: int
    weight: float
    tstamp: float
    anony: float
    frequency: float
    style: tuple[float, ...] | None


def _parse_record(record: Mapping[str, Any]) -> tuple[str, str, _Row] | str:
    if "__invalid_json__" in record:
        return f"not valid JSON ({record['__invalid_json__']})"
    if "__not_an_object__" in record:
        return "not a JSON object"
    missing = [f for f in ("model_a", "model_b", "winner") if f not in record or record[f] in (None, "")]
    if missing:
        return "missing field " + ", ".join(missing)
    name_a, name_b, winner = str(record["model_a"]), str(record["model_b"]), str(record["winner"])
    if name_a == name_b:
        return f"model {name_a!r} battles itself"
    if winner not in FROM_WINNER:
        return f"unknown winner {winner!r}"
    try:
        weight = _optional_float(record, "weight", 1.0)
        count = _optional_float(record, "count", 1.0)
        tstamp = _optional_float(record, "tstamp", math.nan)
        anony = _optional_bool(record.get("anony"))
    except ValueError as error:
        return str(error)
    if not weight >= 0.0 or not math.isfinite(weight):
        return f"weight must be a finite non-negative number, got {record['weight']!r}"
    if not count >= 0.0 or not math.isfinite(count) or count != round(count):
        return f"count must be a non-negative whole number, got {record['count']!r}"
    metadata = record.get("conv_metadata")
    style = style_from_metadata(metadata) if isinstance(metadata, Mapping) else None
    return name_a, name_b, _Row(0, 0, int(FROM_WINNER[winner]), weight, tstamp, anony, count, style)


def _optional_float(record: Mapping[str, Any], field: str, default: float) -> float:
    value = record.get(field)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} is not a number: {value!r}") from None


def _optional_bool(value: Any) -> float:
    # Returned as 1.0, 0.0 or nan so the column can hold "unknown".
    if value is None:
        return math.nan
    parsed = parse_bool(value)
    if parsed is None:
        raise ValueError(f"anony is not a boolean: {value!r}")
    return float(parsed)


def _battles_from_rows(rows: Sequence[_Row], names: list[str]) -> Battles:
    n = len(rows)

    def column(field: str) -> NDArray[np.float64]:
        return np.asarray([getattr(row, field) for row in rows], dtype=np.float64)

    weights, tstamp, anony, counts = column("weight"), column("tstamp"), column("anony"), column("frequency")
    has_style = n > 0 and all(row.style is not None for row in rows)
    width = len(STYLE_FEATURES)
    style = np.asarray([row.style for row in rows], dtype=np.float64).reshape(n, 2 * width) if has_style else None
    return Battles(
        model_a=np.asarray([row.a for row in rows], dtype=np.int64),
        model_b=np.asarray([row.b for row in rows], dtype=np.int64),
        outcome=np.asarray([row.outcome for row in rows], dtype=np.int8),
        names=names,
        weights=None if np.all(weights == 1.0) else weights,
        tstamp=None if n == 0 or np.any(np.isnan(tstamp)) else tstamp,
        anony=None if n == 0 or np.any(np.isnan(anony)) else anony.astype(bool),
        style_a=None if style is None else style[:, :width],
        style_b=None if style is None else style[:, width:],
        counts=None if np.all(counts == 1.0) else counts,
    )
