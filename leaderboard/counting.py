"""Counting the votes in the database: the rules and views of :mod:`leaderboard.rules` as SQL aggregation.

The refresh never loads the votes into Python objects. One statement (:func:`tally`) applies the
rules and counts the counted votes per (model A, model B, outcome, battle facts the views filter
on), keeping the smallest and largest vote id of each cell, together with the number of votes left
out by each rule. The daily cap is a window function over the votes that passed the earlier rules:
``ROW_NUMBER() OVER (PARTITION BY address, UTC day ORDER BY vote id)``. The result has at most
(pairs of models × 4 outcomes × combinations of facts seen) rows, whatever the number of votes. A
view is a mask over those cells (:meth:`Cells.mask`), handed to the engine as aggregated battles
(``Battles.counts``), its models numbered by first appearance exactly as the vote-by-vote path
numbers them (:func:`view_battles`).

The style-controlled view needs each battle's style counts, so :func:`style_battles` streams one row
per counted battle, its answers' style counts summed per side in SQL, into preallocated NumPy
arrays.

The statements are the same on PostgreSQL and SQLite (3.25 or later, for window functions) but for
two fragments (:class:`Dialect`): the UTC day of a timestamp, and the address compared bytewise.
``tests/leaderboard/test_counting.py`` checks them against :func:`leaderboard.rules.judged`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Max
from numpy.typing import NDArray

from arena.models import Answer, ArenaModel, Battle, Turn, Vote
from ratings.data import Battles
from ratings.outcomes import FROM_ARENA
from ratings.style import STYLE_FEATURES

from .models import BattleStyle
from .rules import FACT_SQL, FACTS, SAMPLE_MODULUS, SAMPLE_MULTIPLIER, Rules, View

CHUNK = 20_000  # rows per fetch from the database
BLOCK_BYTES = 4 << 20  # bytes of a binary COPY turned into one NumPy block
REFRESH_LOCK = 0x4C42_5246  # the PostgreSQL advisory lock key one refresh holds while it reads ("LBRF")
FACT_NAMES = tuple(FACTS)


@dataclass(frozen=True)
class Dialect:
    """The two fragments that differ between the databases."""

    utc_day: str  # the UTC date of ``v.created_at``
    address: str  # ``v.ip_hash``, compared byte by byte (the fastest order; any order groups the same)


def _dialect() -> Dialect:
    if connection.vendor == "postgresql":
        return Dialect(utc_day="(v.created_at AT TIME ZONE 'UTC')::date", address='v.ip_hash COLLATE "C"')
    if connection.vendor == "sqlite":
        # Django stores an aware datetime in SQLite as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
        return Dialect(utc_day="substr(v.created_at, 1, 10)", address="v.ip_hash")
    raise NotImplementedError(f"the leaderboard counts votes on PostgreSQL or SQLite, not {connection.vendor}")


#: Rules 1 and 2 over the vote table aliased ``v``: the vote counts and was not cast too fast.
PASSING_SQL = "v.counts AND (v.time_to_vote IS NULL OR v.time_to_vote >= %(min_seconds)s)"


def within_cap_sql() -> str:
    """Rule 3 for a vote ``v`` that passed rules 1 and 2: no address, or within the first ``%(cap)s`` of its address's
    passing votes that UTC day, by vote id (a window over the passing votes)."""
    dialect = _dialect()
    return (f"(v.ip_hash = '' OR ROW_NUMBER() OVER (PARTITION BY {dialect.address}, {dialect.utc_day} ORDER BY v.id)"
            " <= %(cap)s)")


def _table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def _outcome_code(column: str) -> str:
    """SQL turning an arena outcome into the engine's code; -1 for a value the engine does not know."""
    cases = " ".join(f"WHEN '{arena}' THEN {int(code)}" for arena, code in FROM_ARENA.items())
    return f"CASE {column} {cases} ELSE -1 END"


def _passing_sql(rules: Rules, up_to: int | None) -> tuple[str, dict[str, Any]]:
    """The CTEs ``passing`` (votes passing rules 1 and 2, with whether they are within the daily cap, rule 3)
    and ``duplicates`` (the ids of those within the cap that rule 4 leaves out).

    Rule 4 ranks only the votes of prompts frequent enough to be capped (``frequent``: a hash
    aggregate), never every vote, in the fixed scrambled order of :func:`leaderboard.rules.prompt_sample_key`.
    """
    bound = "AND v.id <= %(up_to)s" if up_to is not None else ""
    sql = f"""passing AS (
        SELECT v.id AS id, v.battle_id AS battle_id, v.outcome AS outcome, b.prompt_fingerprint AS fingerprint,
               v.created_at AS created_at, {within_cap_sql()} AS within_cap
        FROM {_table(Vote)} v JOIN {_table(Battle)} b ON b.id = v.battle_id
        WHERE {PASSING_SQL} {bound}
    ),
    capped_total AS (SELECT COUNT(*) AS total FROM passing WHERE within_cap),
    frequent AS (
        SELECT fingerprint FROM passing WHERE within_cap AND fingerprint <> '' GROUP BY fingerprint
        HAVING COUNT(*) > %(prompt_min)s AND COUNT(*) > %(prompt_share)s * (SELECT total FROM capped_total)
    ),
    duplicates AS (
        SELECT id FROM (
            SELECT p.id AS id, ROW_NUMBER() OVER (
                PARTITION BY p.fingerprint ORDER BY (p.id * {SAMPLE_MULTIPLIER}) %% {SAMPLE_MODULUS}, p.id) AS nth
            FROM passing p JOIN frequent f ON f.fingerprint = p.fingerprint
            WHERE p.within_cap
        ) ranked
        WHERE nth > %(prompt_min)s AND nth > %(prompt_share)s * (SELECT total FROM capped_total)
    )"""
    return sql, {"cap": rules.max_votes_per_ip_per_day, "min_seconds": rules.min_vote_seconds, "up_to": up_to,
                 "prompt_min": rules.duplicate_prompt_min_votes, "prompt_share": rules.duplicate_prompt_share}


def _tally_sql(rules: Rules, up_to: int | None) -> tuple[str, dict[str, Any]]:
    passing, params = _passing_sql(rules, up_to)
    bound = "AND v.id <= %(up_to)s" if up_to is not None else ""
    facts = ", ".join(FACT_SQL[name] for name in FACT_NAMES)
    no_facts = ", ".join("''" if name == "language" else "FALSE" for name in FACT_NAMES)
    groups = ", ".join(str(i) for i in range(3, 6 + len(FACT_NAMES)))
    sql = f"""WITH {passing}
        SELECT 0, CASE WHEN NOT v.counts THEN 'not_counted:' || COALESCE(NULLIF(v.excluded_reason, ''), 'unspecified')
                       ELSE 'too_fast' END,
               0, 0, 0, {no_facts}, COUNT(*), 0, 0
        FROM {_table(Vote)} v
        WHERE NOT ({PASSING_SQL}) {bound}
        GROUP BY 1, 2
        UNION ALL
        SELECT 2, '', 0, 0, 0, {no_facts}, 1, id, id FROM passing WHERE NOT within_cap
        UNION ALL
        SELECT 3, '', 0, 0, 0, {no_facts}, 1, id, id FROM duplicates
        UNION ALL
        SELECT 1, '', b.model_a_id, b.model_b_id, {_outcome_code("p.outcome")}, {facts}, COUNT(*), MIN(p.id), MAX(p.id)
        FROM passing p JOIN {_table(Battle)} b ON b.id = p.battle_id
        LEFT JOIN duplicates d ON d.id = p.id
        WHERE p.within_cap AND d.id IS NULL
        GROUP BY 1, 2, {groups}"""
    return sql, {**params, "long_prompt_chars": rules.long_prompt_chars}


def fresh_votes(rules: Rules, *, up_to: int | None = None) -> dict[int, int]:
    """Counted votes cast at or after each model's public release, for the models tested in two or more variants
    before it (the fresh-vote provisional rule, docs/integrity.md); by model id, only models with a release date."""
    passing, params = _passing_sql(rules, up_to)
    model = _table(ArenaModel)
    sql = f"""WITH {passing}
        SELECT m.id, COUNT(*)
        FROM {model} m
        JOIN {_table(Battle)} b ON b.model_a_id = m.id OR b.model_b_id = m.id
        JOIN passing p ON p.battle_id = b.id
        LEFT JOIN duplicates d ON d.id = p.id
        WHERE m.prerelease_variants >= 2 AND m.released_at IS NOT NULL AND p.within_cap AND d.id IS NULL
              AND p.created_at >= m.released_at
        GROUP BY m.id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: row[1] for row in cursor.fetchall()}


def duplicate_votes(rules: Rules, *, up_to: int | None = None) -> set[int]:
    """The ids of the votes the duplicated-prompt rule (4) leaves out, from the database (for the exports,
    which judge the votes one by one with :func:`leaderboard.rules.judged`)."""
    passing, params = _passing_sql(rules, up_to)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {passing} SELECT id FROM duplicates", params)
        return {row[0] for row in cursor.fetchall()}


@dataclass(frozen=True)
class Cells:
    """Counted votes grouped by (model A, model B, outcome, battle facts); model ids are database ids."""

    model_a: NDArray[np.int64]
    model_b: NDArray[np.int64]
    outcome: NDArray[np.int8]
    facts: dict[str, NDArray[Any]]  # booleans, and the language as an index into ``languages``
    languages: list[str]
    count: NDArray[np.int64]
    first_vote: NDArray[np.int64]
    last_vote: NDArray[np.int64]

    def mask(self, view: View) -> NDArray[np.bool_]:
        """The cells of the votes ``view`` keeps."""
        if view.fact is None:
            return np.ones(len(self.count), dtype=bool)
        if view.fact == "language":
            code = self.languages.index(view.value) if view.value in self.languages else -1
            return np.asarray(self.facts["language"] == code)
        return np.asarray(self.facts[view.fact] == bool(view.value))


@dataclass(frozen=True)
class Tally:
    """What the rules make of every vote: the counted ones as :class:`Cells`, the others by reason.

    ``capped`` lists (sorted) the votes left out by the daily cap and by the duplicated-prompt rule, so
    that a later query can leave them out without applying the window functions again.
    """

    cells: Cells
    excluded: dict[str, int]
    capped: NDArray[np.int64]
    seen: int | None = None  # the largest vote id the rules saw, counted or not

    @property
    def votes(self) -> int:
        return int(self.cells.count.sum())

    @property
    def last_vote(self) -> int | None:
        return int(self.cells.last_vote.max()) if len(self.cells.count) else None

    @property
    def languages(self) -> set[str]:
        """The first-prompt languages of the counted votes."""
        return {self.cells.languages[i] for i in np.unique(self.cells.facts["language"])}


def tally(rules: Rules, *, up_to: int | None = None) -> Tally:
    """Apply the rules to every vote (up to a vote id) in the database and count the counted ones."""
    sql, params = _tally_sql(rules, up_to)
    excluded: dict[str, int] = {}
    languages: dict[str, int] = {}
    language_at = 3 + FACT_NAMES.index("language")
    # Each fetched chunk becomes NumPy columns at once: no Python object per cell outlives its chunk.
    blocks: list[list[NDArray[Any]]] = []
    capped: list[int] = []
    duplicated: list[int] = []
    with _streamed(sql, params) as chunks:
        for chunk in chunks:
            counted = []
            for row in chunk:
                if row[0] == 1:
                    counted.append(row[2:])
                elif row[0] == 2:
                    capped.append(row[-1])
                elif row[0] == 3:
                    duplicated.append(row[-1])
                else:
                    excluded[row[1]] = int(row[-3])
            if counted:
                fields = list(zip(*counted, strict=True))
                fields[language_at] = tuple(languages.setdefault(code, len(languages)) for code in fields[language_at])
                blocks.append([np.array(field) for field in fields])
    columns = [np.concatenate([block[i] for block in blocks]) if blocks else np.zeros(0, dtype=np.int64)
               for i in range(6 + len(FACT_NAMES))]
    del blocks
    if capped:
        excluded["ip_daily_cap"] = len(capped)
    if duplicated:
        excluded["duplicate_prompt"] = len(duplicated)
    outcome = np.array(columns[2], dtype=np.int8)
    if (outcome < 0).any():
        raise ValueError("a vote has an outcome the ratings engine does not know")
    cells = Cells(
        model_a=np.array(columns[0], dtype=np.int64), model_b=np.array(columns[1], dtype=np.int64), outcome=outcome,
        facts={name: np.array(columns[3 + i], dtype=np.int32 if name == "language" else bool)
               for i, name in enumerate(FACT_NAMES)},
        languages=list(languages), count=np.array(columns[-3], dtype=np.int64),
        first_vote=np.array(columns[-2], dtype=np.int64), last_vote=np.array(columns[-1], dtype=np.int64),
    )
    excluded["failed_battle"] = Battle.objects.filter(status=Battle.Status.FAILED).count()
    votes = Vote.objects.filter(pk__lte=up_to) if up_to is not None else Vote.objects.all()
    seen = votes.aggregate(seen=Max("pk"))["seen"]
    return Tally(cells, dict(sorted(excluded.items())), np.sort(np.array(capped + duplicated, dtype=np.int64)), seen)


def first_appearance(model_a: NDArray[np.int64], model_b: NDArray[np.int64], first_vote: NDArray[np.int64]
                     ) -> NDArray[np.int64]:
    """Model ids in order of first appearance: by the first vote they are in, model A before model B.

    ``first_vote`` is the smallest vote id of each row; this is the order in which
    ``dict.fromkeys(m for vote in votes for m in (vote.model_a, vote.model_b))`` meets the models.
    """
    if not len(model_a):
        return np.zeros(0, dtype=np.int64)
    top = int(max(model_a.max(), model_b.max())) + 1
    never = np.iinfo(np.int64).max
    first = np.full(top, never, dtype=np.int64)
    np.minimum.at(first, model_a, first_vote * 2)
    np.minimum.at(first, model_b, first_vote * 2 + 1)
    present = np.flatnonzero(first != never)
    return present[np.argsort(first[present], kind="stable")]


def _numbering(order: NDArray[np.int64]) -> NDArray[np.int64]:
    """Database id -> engine id (0, 1, ... in ``order``); -1 for ids not in ``order``."""
    index = np.full(int(order.max()) + 1 if len(order) else 0, -1, dtype=np.int64)
    index[order] = np.arange(len(order))
    return index


@dataclass(frozen=True)
class ViewBattles:
    """A view's battles for the engine, with the vote id range and the database ids of its models."""

    battles: Battles
    vote_id_min: int
    vote_id_max: int
    models: list[int]


def view_battles(cells: Cells, view: View, names: dict[int, str]) -> ViewBattles | None:
    """The view's cells as aggregated battles; None when the view has no votes."""
    keep = cells.mask(view)
    if not keep.any():
        return None
    a, b, first = cells.model_a[keep], cells.model_b[keep], cells.first_vote[keep]
    order = first_appearance(a, b, first)
    index = _numbering(order)
    battles = Battles(model_a=index[a], model_b=index[b], outcome=cells.outcome[keep],
                      names=[names[int(pk)] for pk in order], counts=cells.count[keep].astype(np.float64))
    return ViewBattles(battles, int(first.min()), int(cells.last_vote[keep].max()), [int(pk) for pk in order])


# ---- per-battle rows for the style-controlled view ------------------------------------------------------------------


def _style_columns() -> list[str]:
    return [f"{side}_{feature}" for side in "ab" for feature in STYLE_FEATURES]


def battle_styles_fill(vote_ids: Sequence[int] | None = None) -> None:
    """Sum the style counts of every voted battle not summed yet into :class:`~leaderboard.models.BattleStyle`
    (only the battles of ``vote_ids`` if given: those a refresh has not seen yet).

    A voted battle's answers never change, so each battle is summed once; the first refresh after an
    upgrade sums them all. A battle counts as complete when it has answers on both sides and each is
    a list of four numbers; otherwise the style-controlled view leaves it out.
    """
    if vote_ids is not None:
        for start in range(0, len(vote_ids), 500):
            _styles_fill(vote_ids[start:start + 500])
        return
    _styles_fill(None)


def _styles_fill(vote_ids: Sequence[int] | None) -> None:
    k = len(STYLE_FEATURES)
    if connection.vendor == "postgresql":
        element = "CASE WHEN jsonb_typeof(a.style -> {i}) = 'number' THEN (a.style ->> {i})::float8 END"
        shaped = "CASE WHEN jsonb_typeof(a.style) = 'array' THEN jsonb_array_length(a.style) ELSE -1 END = %(k)s"
        number = "jsonb_typeof(a.style -> {i}) = 'number'"
    else:
        element = "CASE WHEN json_type(a.style, '$[{i}]') IN ('integer', 'real') THEN json_extract(a.style, '$[{i}]') END"
        shaped = "json_type(a.style) = 'array' AND json_array_length(a.style) = %(k)s"
        number = "json_type(a.style, '$[{i}]') IN ('integer', 'real')"
    complete = " AND ".join([shaped, *(number.format(i=i) for i in range(k))])
    among = ("AND v.id IN (" + ", ".join(f"%(vote{i})s" for i in range(len(vote_ids))) + ")") if vote_ids else ""
    if vote_ids is not None and not vote_ids:
        return
    sums = ", ".join(f"COALESCE(SUM(CASE WHEN a.side = '{side}' THEN {element.format(i=i)} END), 0)"
                     for side in "ab" for i in range(k))
    sql = f"""INSERT INTO {_table(BattleStyle)} (battle_id, complete, {", ".join(_style_columns())})
        SELECT m.battle_id,
               SUM(CASE WHEN a.side = 'a' THEN 1 ELSE 0 END) > 0 AND SUM(CASE WHEN a.side = 'b' THEN 1 ELSE 0 END) > 0
               AND SUM(CASE WHEN a.id IS NULL OR ({complete}) THEN 0 ELSE 1 END) = 0,
               {sums}
        FROM (SELECT v.battle_id AS battle_id FROM {_table(Vote)} v
              WHERE NOT EXISTS (SELECT 1 FROM {_table(BattleStyle)} c WHERE c.battle_id = v.battle_id) {among}) m
        LEFT JOIN {_table(Turn)} t ON t.battle_id = m.battle_id
        LEFT JOIN {_table(Answer)} a ON a.turn_id = t.id
        WHERE TRUE
        GROUP BY m.battle_id
        ON CONFLICT (battle_id) DO NOTHING"""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {"k": k, **{f"vote{i}": pk for i, pk in enumerate(vote_ids or ())}})


def _style_sql(rules: Rules, up_to: int | None) -> tuple[str, dict[str, Any]]:
    """Every vote passing rules 1 and 2 whose battle has complete style counts, in vote order, as numbers."""
    bound = "AND v.id <= %(up_to)s" if up_to is not None else ""
    columns = ["v.id", "b.model_a_id", "b.model_b_id", _outcome_code("v.outcome"),
               *(f"c.{column}" for column in _style_columns())]
    numbers = ", ".join(f"CAST({column} AS DOUBLE PRECISION)" for column in columns)
    sql = f"""SELECT {numbers}
        FROM {_table(Vote)} v JOIN {_table(Battle)} b ON b.id = v.battle_id
        JOIN {_table(BattleStyle)} c ON c.battle_id = v.battle_id
        WHERE {PASSING_SQL} AND c.complete {bound}
        ORDER BY v.id"""
    return sql, {"min_seconds": rules.min_vote_seconds, "up_to": up_to}


def style_battles(rules: Rules, tally: Tally, names: dict[int, str], *, up_to: int | None = None
                  ) -> ViewBattles | None:
    """Every counted vote whose battle has complete style counts, one row each in vote order, with the counts.

    The votes are those of ``tally`` (rules 1 and 2 again, and the daily cap by its list of capped
    votes); the arrays are allocated once, for as many rows as ``tally`` counted votes, and filled
    block by block (:func:`_number_blocks`). Style counts come from :func:`battle_styles_fill`,
    which must have run in the same :func:`consistent_reads` block as ``tally``.
    """
    sql, params = _style_sql(rules, up_to)
    k, size = len(STYLE_FEATURES), tally.votes
    model_a = np.empty(size, dtype=np.int64)
    model_b = np.empty(size, dtype=np.int64)
    outcome = np.empty(size, dtype=np.int8)
    style = np.empty((size, 2 * k), dtype=np.float32)  # word and Markdown counts: exact below 2**24
    filled = 0
    for block in _number_blocks(sql, params, 4 + 2 * k):
        block = block[~_member(block[:, 0].astype(np.int64), tally.capped)]
        end = filled + len(block)
        if end > size:
            raise ValueError(f"more counted battles with style counts than the {size} counted votes")
        model_a[filled:end], model_b[filled:end], outcome[filled:end] = block[:, 1], block[:, 2], block[:, 3]
        style[filled:end] = block[:, 4:]
        filled = end
    if not filled:
        return None
    if (outcome[:filled] < 0).any():
        raise ValueError("a vote has an outcome the ratings engine does not know")
    a, b = model_a[:filled], model_b[:filled]
    # The rows come in vote order, so each row's position stands for its vote id.
    order = first_appearance(a, b, np.arange(filled, dtype=np.int64))
    return style_view(a, b, outcome[:filled], style[:filled], order, names)


def style_view(model_a: NDArray[np.int64], model_b: NDArray[np.int64], outcome: NDArray[np.int8],
               style: NDArray[np.float32], order: NDArray[np.int64], names: dict[int, str]) -> ViewBattles:
    """The style-controlled view's battles from rows in vote order (database model ids, the style counts of sides A
    then B) and the models' order of first appearance; the model columns are renumbered in place."""
    k = len(STYLE_FEATURES)
    index = _numbering(order)
    np.take(index, model_a, out=model_a)  # database ids to engine ids, in place: no second copy of a column per battle
    np.take(index, model_b, out=model_b)
    battles = Battles(model_a=model_a, model_b=model_b, outcome=outcome, names=[names[int(pk)] for pk in order],
                      style_a=style[:, :k], style_b=style[:, k:])
    return ViewBattles(battles, 0, 0, [int(pk) for pk in order])


def _member(values: NDArray[np.int64], sorted_set: NDArray[np.int64]) -> NDArray[np.bool_]:
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[at] == values)


# ---- reading -------------------------------------------------------------------------------------------------------


@contextmanager
def _streamed(sql: str, params: dict[str, Any]) -> Iterator[Iterator[Sequence[Any]]]:
    """The statement's rows in chunks, from a server-side cursor on PostgreSQL (so no result is held whole)."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        fetch: Callable[[], Sequence[Any]] = lambda: cursor.fetchmany(CHUNK)  # noqa: E731
        yield iter(fetch, [])


def _number_blocks(sql: str, params: dict[str, Any], width: int) -> Iterator[NDArray[np.float64]]:
    """The rows of a statement whose ``width`` columns are all non-null doubles, as float64 blocks in order.

    On PostgreSQL through ``COPY … TO STDOUT (FORMAT BINARY)``: every row then has the same size,
    so a block of bytes is read as a NumPy record array without a Python object per value (this is
    what keeps a million-row read to seconds). Elsewhere, from :func:`_streamed`.
    """
    if connection.vendor != "postgresql":
        with _streamed(sql, params) as chunks:
            for chunk in chunks:
                yield np.array(chunk, dtype=np.float64).reshape(len(chunk), width)
        return
    # A binary COPY row: a 16-bit field count, then per field a 32-bit length (8) and the value, big-endian.
    row = np.dtype([("fields", ">i2"), *((name, kind) for i in range(width)
                                          for name, kind in ((f"n{i}", ">i4"), (f"v{i}", ">f8")))])
    values = [f"v{i}" for i in range(width)]
    pending, header = bytearray(), True
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
        for data in copy:
            pending += data
            if header:
                if len(pending) < 19:
                    continue
                if pending[:11] != b"PGCOPY\n\xff\r\n\x00":
                    raise ValueError("not a PostgreSQL binary COPY stream")
                del pending[:19 + int.from_bytes(pending[15:19], "big")]
                header = False
            if len(pending) >= BLOCK_BYTES:
                yield _copy_rows(pending, row, values, width)
        if pending[-2:] != b"\xff\xff":
            raise ValueError("the binary COPY stream ended without its trailer")
        del pending[-2:]
        yield _copy_rows(pending, row, values, width)
        if pending:
            raise ValueError("the binary COPY stream ended inside a row")


def _copy_rows(pending: bytearray, row: np.dtype[Any], values: list[str], width: int) -> NDArray[np.float64]:
    """The whole rows at the start of ``pending`` as a float64 block; they are removed from ``pending``."""
    n = len(pending) // row.itemsize
    records = np.frombuffer(pending, dtype=row, count=n)
    if n and ((records["fields"] != width).any() or any((records[f"n{i}"] != 8).any() for i in range(width))):
        raise ValueError("a binary COPY row is not the expected non-null doubles")
    block = np.empty((n, width), dtype=np.float64)
    for i, name in enumerate(values):
        block[:, i] = records[name]
    del records
    del pending[: n * row.itemsize]
    return block


@contextmanager
def consistent_reads() -> Iterator[None]:
    """One refresh's reads and its :func:`battle_styles_fill`, all on the same committed votes.

    On PostgreSQL: one REPEATABLE READ transaction, so every query sees the votes as they were when
    the first one ran, and the battles the fill sums are exactly those the later queries read;
    refreshes take turns (a session advisory lock), so that two of them never sum the same new
    battles at once. SQLite reads inside one transaction see one state of the database already.
    Inside an outer transaction (tests) the isolation level is that transaction's.
    """
    outermost = not connection.in_atomic_block
    locked = outermost and connection.vendor == "postgresql"
    if locked:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [REFRESH_LOCK])
    try:
        with transaction.atomic():
            if locked:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [REFRESH_LOCK])
