"""The refresh's count kept from one refresh to the next (a ledger), so that each refresh judges only what is new.

:func:`leaderboard.counting.tally` reads and judges every vote: at millions of votes, most of a
refresh. Yet what the rules make of a vote depends on few others:

- rules 1 and 2 (the vote's ``counts`` flag, a vote cast too fast) on the vote alone;
- rule 3 (the daily cap) on the earlier votes of the same address on the same UTC day, its *partition*;
- rule 4 (duplicated prompts) on every vote, but only through the number of votes passing rules 1-3
  and through the votes of the few prompts asked often enough to be capped.

So the ledger keeps, for every vote, what rules 1-3 made of it (its *status*: passing, over the
daily cap, or the reason rule 1 or 2 left it out), the cell (models, outcome, battle facts) of each
passing vote, and its battle's style counts; and the prompts with more votes than
``duplicate_prompt_min_votes`` with their vote counts. A refresh (:func:`ledger_advance`)

1. reads the votes cast since the last one and those whose ``counts`` changed since (``arena.VoteChange``);
2. judges rules 1-3 again for every vote of the partitions they fall in, whole;
3. applies rule 4 anew, reading the votes of only the prompts that can be over the cap;
4. counts the cells with NumPy (:meth:`Judgement.tally`).

Its results are :func:`leaderboard.counting.tally`'s and :func:`~leaderboard.counting.style_battles`'s,
cell for cell and row for row (``tests/leaderboard/test_tallies.py``).

Storage: :class:`~leaderboard.models.Ledger` (one row per set of thresholds, with the cell keys)
and its :class:`~leaderboard.models.LedgerChunk` rows (up to :data:`leaderboard.tallies.CHUNK_VOTES` consecutive votes
each, as packed NumPy arrays), in the database and in the transaction of the reads they record, so
that a restored backup restores its ledger with it. A refresh rewrites only the chunks whose votes
it judged again. What keeps it right:

- votes committed late (a vote id below one already read): the number of votes up to the largest id
  seen must equal the ledger's; if not, the ids are compared and the missing votes judged (a deleted
  vote is dropped the same way);
- thresholds changed (``ARENA_*`` settings): a new ledger from a full count, judged in SQL
  (:func:`_ledger_build`); the old one is deleted;
- a change to a vote's ``counts`` outside :func:`arena.models.votes_changed` is not seen: every
  code path that changes one records it (the admin's review, the anomalous-voter rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Count
from numpy.typing import NDArray

from arena.models import Battle, Vote, VoteChange

from . import counting, tallies
from .models import BattleStyle, Ledger
from .rules import FACT_SQL, Rules, VoteRow
from .tallies import FLAGS, PASSING, Chunk, Judgement, K, _member, _unpack, cell_keys, rules_key

BATCH = 500  # values per IN (...) list (SQLite allows 999 parameters; PostgreSQL takes POSTGRES_BATCH)
POSTGRES_BATCH = 5000
GROUP_CHUNKS = 8  # chunks' worth of style counts read per query when a ledger is built (about 17 MB at a time)
VOTE_FIELDS = ("pk", "battle_id", "battle__model_a_id", "battle__model_b_id", "outcome", "counts", "excluded_reason",
               "time_to_vote", "ip_hash", "created_at", "battle__turn_count", "battle__first_prompt_chars",
               "battle__has_code", "battle__language", "battle__prompt_fingerprint", "battle__has_images")


def vote_rows(queryset: Any) -> Iterator[VoteRow]:
    """The votes of a queryset as :class:`~leaderboard.rules.VoteRow`, in the queryset's order."""
    for values in queryset.values_list(*VOTE_FIELDS).iterator(chunk_size=5000):
        yield VoteRow(*values)


def _batches(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    size = POSTGRES_BATCH if connection.vendor == "postgresql" else BATCH
    for start in range(0, len(values), size):
        yield values[start:start + size]


def frequent_floor(rules: Rules) -> int:
    """Prompts with more votes than this are followed (rule 4 can cap only those)."""
    return max(rules.duplicate_prompt_min_votes, 1)




def ledger_advance(rules: Rules) -> Judgement:
    """Bring the ledger of ``rules`` up to the votes in the database, with the style counts of their battles, and
    store it (call inside :func:`leaderboard.counting.consistent_reads`)."""
    ledger = Ledger.objects.filter(rules=rules_key(rules)).first()
    judgement = _ledger_load(ledger, rules) if ledger is not None else None
    if judgement is None or not _ledger_catch_up(judgement):
        if ledger is not None:
            ledger.delete()
        changes = list(VoteChange.objects.values_list("pk", flat=True))  # the votes as they are now are read whole
        counting.battle_styles_fill()
        judgement = _ledger_build(rules)
        VoteChange.objects.filter(pk__in=changes).delete()
    judgement.save()
    return judgement


def _ledger_load(ledger: Ledger, rules: Rules) -> Judgement:
    # Read into three arrays allocated once, the chunks being views of them: freed whole (see style_battles), they
    # return their memory, where many chunk-sized arrays would leave it to the allocator.
    total = ledger.votes
    ids, status, cell = np.empty(total, np.int64), np.empty(total, np.int8), np.empty(total, np.int32)
    chunks, at = [], 0
    for pk, data in ledger.chunks.order_by("first_vote").values_list("pk", "judged").iterator(chunk_size=4):
        arrays = _unpack(data)
        end = at + len(arrays["ids"])
        if end > total:
            raise ValueError("the ledger's chunks hold more votes than the ledger")
        ids[at:end], status[at:end], cell[at:end] = arrays["ids"], arrays["status"], arrays["cell"]
        chunks.append(Chunk(pk, ids[at:end], status[at:end], cell[at:end]))
        at = end
        del arrays
    if at != total:
        raise ValueError("the ledger's chunks hold fewer votes than the ledger")
    meta, stored = ledger.meta, _unpack(ledger.cells)
    bounds = np.cumsum(stored["prompt_sizes"])[:-1]
    frequent = dict(zip(meta["prompts"], np.split(stored["prompt_ids"], bounds), strict=True)) if meta["prompts"] else {}
    return Judgement(ledger, rules, chunks, stored["keys"], list(meta["reasons"]), list(meta["languages"]), frequent,
                     ledger.seen)


def _ledger_catch_up(judgement: Judgement) -> bool:
    """Judge the new votes, the late ones, the changed ones, and every vote of their partitions; False if the ledger
    cannot be brought up to date (a vote it judged was deleted)."""
    seen = judgement.seen
    changes = list(VoteChange.objects.values_list("pk", "vote_id"))
    affected = set(Vote.objects.filter(pk__gt=seen).values_list("pk", flat=True))
    affected.update(vote_id for _, vote_id in changes)
    in_database = Vote.objects.filter(pk__lte=seen).count()
    if in_database != judgement.votes:
        # Votes committed after a later one was read (or deleted since): compare the ids.
        ids = judgement.ids()
        stored = np.fromiter(Vote.objects.filter(pk__lte=seen).values_list("pk", flat=True).iterator(
            chunk_size=50_000), dtype=np.int64)
        stored.sort()
        if not _member(ids, stored).all():
            return False  # a vote judged before is gone: its partition's other votes are unknown, count anew
        affected.update(int(pk) for pk in stored[~_member(stored, ids)])
    if affected:
        rows = _partition_rows(sorted(affected))
        known = judgement._status_of(np.array([row.vote_id for row in rows], dtype=np.int64)) >= 0
        new = [row for row, old in zip(rows, known, strict=True) if not old]
        counting.battle_styles_fill([row.vote_id for row in new])
        judgement.judge(rows, _styles_of(new))
        _follow_prompts(judgement, new)
    VoteChange.objects.filter(pk__in=[pk for pk, _ in changes]).delete()
    return True


def _partition_rows(vote_ids: list[int]) -> list[VoteRow]:
    """The rows of these votes and of every vote in their (address, UTC day) partitions, in id order."""
    # The votes' addresses and days first (no join), then the whole rows: of the votes with no address by id, of
    # the others with their partitions, by day and batch of addresses (one query each, by the index on the address).
    blank: list[int] = []
    by_day: dict[date, set[str]] = {}
    for batch in _batches(vote_ids):
        for pk, address, created in Vote.objects.filter(pk__in=batch).values_list("pk", "ip_hash", "created_at"):
            if address:
                by_day.setdefault(_utc_day(created), set()).add(address)
            else:
                blank.append(pk)
    rows: dict[int, VoteRow] = {}
    for batch in _batches(blank):
        for row in vote_rows(Vote.objects.filter(pk__in=batch)):
            rows[row.vote_id] = row
    for day, addresses in by_day.items():
        low = datetime.combine(day, time(), UTC)
        for batch in _batches(sorted(addresses)):
            queryset = Vote.objects.filter(ip_hash__in=batch, created_at__gte=low, created_at__lt=low + timedelta(days=1))
            for row in vote_rows(queryset):
                rows[row.vote_id] = row
    return [rows[pk] for pk in sorted(rows)]


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _styles_of(rows: Iterable[VoteRow]) -> dict[int, NDArray[np.float32]]:
    """The style counts of these votes' battles (NaN where not complete or not summed)."""
    by_battle = {row.battle_id: row.vote_id for row in rows}
    styles = {vote_id: np.full(2 * K, np.nan, dtype=np.float32) for vote_id in by_battle.values()}
    columns = counting._style_columns()
    battle_ids = list(by_battle)
    for batch in _batches(battle_ids):
        for battle_id, *values in BattleStyle.objects.filter(battle_id__in=batch, complete=True).values_list(
                "battle_id", *columns):
            styles[by_battle[battle_id]] = np.array(values, dtype=np.float32)
    return styles


def _follow_prompts(judgement: Judgement, rows: list[VoteRow]) -> None:
    """Follow the prompts of these new votes that now have more votes than the floor, with their vote ids."""
    floor = frequent_floor(judgement.rules)
    arriving: dict[str, list[int]] = {}
    for row in rows:
        if row.prompt_fingerprint:
            arriving.setdefault(row.prompt_fingerprint, []).append(row.vote_id)
    # A prompt has no more votes than battles: those with few battles (nearly all new prompts) are settled by the
    # index on the battles' fingerprints alone, and only the others' votes are counted.
    candidates = [fp for fp in arriving if fp in judgement.frequent]
    unknown = sorted(fp for fp in arriving if fp not in judgement.frequent)
    for batch in _batches(unknown):
        candidates.extend(Battle.objects.filter(prompt_fingerprint__in=batch).order_by().values_list(
            "prompt_fingerprint").annotate(n=Count("pk")).filter(n__gt=floor).values_list("prompt_fingerprint",
                                                                                          flat=True))
    for batch in _batches(sorted(candidates)):
        counts = dict(Vote.objects.filter(battle__prompt_fingerprint__in=batch).order_by().values_list(
            "battle__prompt_fingerprint").annotate(n=Count("pk")).values_list("battle__prompt_fingerprint", "n"))
        refetch = []
        for fp in batch:
            n = counts.get(fp, 0)
            if n <= floor:
                judgement.frequent.pop(fp, None)
                continue
            known = judgement.frequent.get(fp)
            ids = np.union1d(known, np.array(arriving[fp], dtype=np.int64)) if known is not None else None
            if ids is None or len(ids) != n:
                refetch.append(fp)  # newly followed (or out of step): read all its votes
            else:
                judgement.frequent[fp] = ids
        judgement.frequent.update(_prompt_votes(refetch))


def _prompt_votes(fingerprints: Sequence[str]) -> dict[str, NDArray[np.int64]]:
    """The ids of the votes on these prompts (by the index on the battles' fingerprints), sorted."""
    found: dict[str, list[int]] = {fp: [] for fp in fingerprints}
    for batch in _batches(fingerprints):
        for pk, fp in Vote.objects.filter(battle__prompt_fingerprint__in=batch).order_by().values_list(
                "pk", "battle__prompt_fingerprint").iterator(chunk_size=20_000):
            found[fp].append(pk)
    return {fp: np.sort(np.array(ids, dtype=np.int64)) for fp, ids in found.items()}


# ---- a ledger from scratch --------------------------------------------------------------------------------------


def _ledger_build(rules: Rules) -> Judgement:
    """Judge every vote in SQL (the window function of :mod:`leaderboard.counting` for the daily cap), one row per vote
    read as numbers, then the style counts in the same order, chunk by chunk."""
    reasons = ["too_fast", *sorted({f"not_counted:{r or 'unspecified'}" for r in
                                    Vote.objects.filter(counts=False).order_by()
                                    .values_list("excluded_reason", flat=True).distinct()})]
    languages = sorted(set(Battle.objects.order_by().values_list("language", flat=True).distinct()))
    judgement = Judgement(None, rules, [], np.zeros(0, dtype=np.uint64), reasons, languages, {}, 0)
    ids_parts, status_parts, key_parts = [], [], []
    for block in counting._number_blocks(*_judged_sql(rules, reasons, languages), 7):
        ids_parts.append(block[:, 0].astype(np.int64))
        status_parts.append(block[:, 1].astype(np.int8))
        passing = block[:, 1] == PASSING
        keys = np.zeros(len(block), dtype=np.uint64)
        if passing.any():
            p = block[passing]
            if (p[:, 4] < 0).any():
                raise ValueError("a vote has an outcome the ratings engine does not know")
            keys[passing] = cell_keys(p[:, 2].astype(np.int64), p[:, 3].astype(np.int64), p[:, 4].astype(np.int64),
                                      p[:, 5].astype(np.int64), p[:, 6].astype(np.int64))
        key_parts.append(keys)
        del block
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
    if not len(ids):
        return judgement
    status = np.concatenate(status_parts)
    keys = np.concatenate(key_parts)
    del ids_parts, status_parts, key_parts
    order = np.argsort(ids)
    ids, status, keys = ids[order], status[order], keys[order]
    del order
    passing = status == PASSING
    cell = np.full(len(ids), -1, dtype=np.int32)
    judgement.keys, inverse = np.unique(keys[passing], return_inverse=True)
    cell[passing] = inverse.astype(np.int32)
    del keys, inverse
    judgement.seen = int(ids[-1])
    # The ledger's row now, so that each chunk is stored as soon as it is complete, and its style counts dropped.
    Ledger.objects.exclude(rules=rules_key(rules)).delete()
    judgement.ledger = Ledger.objects.create(rules=rules_key(rules), seen=0, votes=0, meta={}, cells=b"")
    # The style counts in vote order, a few chunks' worth per query; each chunk is stored once its group is read
    # (not during a COPY: the connection is busy with it) and its style counts dropped.
    size = tallies.CHUNK_VOTES
    filled = 0
    while filled < len(ids):
        group_end = min(filled + GROUP_CHUNKS * size, len(ids))
        styles = [_style_rows(block) for block in counting._number_blocks(
            *_style_sql(int(ids[filled]), int(ids[group_end - 1])), 2 + 2 * K)]
        rows = np.concatenate(styles) if styles else np.zeros((0, 1 + 2 * K))
        del styles
        if not np.array_equal(rows[:, 0].astype(np.int64), ids[filled:group_end]):
            raise ValueError("the votes changed while the ledger was built")
        for lo in range(filled, group_end, size):
            hi = min(lo + size, group_end)
            chunk = Chunk(None, ids[lo:hi].copy(), status[lo:hi].copy(), cell[lo:hi].copy(),
                          rows[lo - filled:hi - filled, 1:].astype(np.float32), dirty=True)
            judgement.write(chunk)
            chunk.style = None  # read again by style_battles, chunk by chunk
            judgement.chunks.append(chunk)
        filled = group_end
        del rows
    if filled != len(ids):
        raise ValueError("the votes changed while the ledger was built")
    floor = frequent_floor(rules)
    judgement.frequent = _prompt_votes(list(Vote.objects.exclude(battle__prompt_fingerprint="").order_by().values_list(
        "battle__prompt_fingerprint").annotate(n=Count("pk")).filter(n__gt=floor).values_list(
        "battle__prompt_fingerprint", flat=True)))
    judgement.judged_again = len(ids)
    return judgement


def _judged_sql(rules: Rules, reasons: list[str], languages: list[str]) -> tuple[str, dict[str, Any]]:
    """Every vote as (id, status, model A, model B, outcome, flags, language index); the last five are 0 unless
    passing."""
    table = counting._table
    reason_case = " ".join(f"WHEN %(reason{i})s THEN {i + 2}" for i in range(len(reasons)))
    language_case = " ".join(f"WHEN %(language{i})s THEN {i}" for i in range(len(languages)))
    flags = " + ".join(f"(CASE WHEN {FACT_SQL[name]} THEN {1 << (len(FLAGS) - 1 - i)} ELSE 0 END)"
                       for i, name in enumerate(FLAGS))
    passing_condition = counting.PASSING_SQL
    sql = f"""WITH passing AS (
        SELECT v.id AS id, v.battle_id AS battle_id, v.outcome AS outcome, {counting.within_cap_sql()} AS within_cap
        FROM {table(Vote)} v WHERE {passing_condition}
    )
    SELECT CAST(v.id AS DOUBLE PRECISION),
           CAST(CASE WHEN v.counts THEN 2
                     ELSE CASE 'not_counted:' || COALESCE(NULLIF(v.excluded_reason, ''), 'unspecified') {reason_case}
                          END END AS DOUBLE PRECISION),
           0.0, 0.0, 0.0, 0.0, 0.0
    FROM {table(Vote)} v WHERE NOT ({passing_condition})
    UNION ALL
    SELECT CAST(p.id AS DOUBLE PRECISION), CAST(CASE WHEN p.within_cap THEN 0 ELSE 1 END AS DOUBLE PRECISION),
           CAST(b.model_a_id AS DOUBLE PRECISION), CAST(b.model_b_id AS DOUBLE PRECISION),
           CAST({counting._outcome_code("p.outcome")} AS DOUBLE PRECISION), CAST({flags} AS DOUBLE PRECISION),
           CAST({f"CASE b.language {language_case} ELSE -1 END" if languages else "-1"} AS DOUBLE PRECISION)
    FROM passing p JOIN {table(Battle)} b ON b.id = p.battle_id"""
    params: dict[str, Any] = {"min_seconds": rules.min_vote_seconds, "cap": rules.max_votes_per_ip_per_day,
                              "long_prompt_chars": rules.long_prompt_chars}
    params.update({f"reason{i}": reason for i, reason in enumerate(reasons)})
    params.update({f"language{i}": language for i, language in enumerate(languages)})
    return sql, params


def _style_rows(block: NDArray[np.float64]) -> NDArray[np.float64]:
    """(id, complete, counts...) rows as (id, counts...), NaN counts where not complete."""
    rows = np.empty((len(block), 1 + 2 * K), dtype=np.float64)
    rows[:, 0] = block[:, 0]
    rows[:, 1:] = np.where(block[:, 1:2] == 1, block[:, 2:], np.nan)
    return rows


def _style_sql(first: int, last: int) -> tuple[str, dict[str, Any]]:
    """The votes with ids from ``first`` to ``last`` as (id, complete, the style counts of sides A then B), in vote
    order; 0 where there are none."""
    table = counting._table
    values = ", ".join(f"CAST(COALESCE(c.{column}, 0) AS DOUBLE PRECISION)" for column in counting._style_columns())
    sql = f"""SELECT CAST(v.id AS DOUBLE PRECISION), CAST(CASE WHEN c.complete THEN 1 ELSE 0 END AS DOUBLE PRECISION),
               {values}
        FROM {table(Vote)} v LEFT JOIN {table(BattleStyle)} c ON c.battle_id = v.battle_id
        WHERE v.id BETWEEN %(first)s AND %(last)s
        ORDER BY v.id"""
    return sql, {"first": first, "last": last}


def ledger_forget() -> None:
    """Delete every ledger: the next refresh judges every vote again from a full count."""
    with transaction.atomic():
        Ledger.objects.all().delete()
