"""The ledger in memory: what the refresh's rules 1-3 made of every vote, in chunks, with the cells, and how it
is stored (``Ledger`` and ``LedgerChunk`` rows) and counted (:meth:`Judgement.tally`, :meth:`Judgement.style_battles`).

How a refresh brings it up to date, and why that is enough, is in :mod:`leaderboard.ledger`.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Q
from django.utils import timezone
from numpy.typing import NDArray

from arena.models import ArenaModel, Battle, Vote
from ratings.outcomes import FROM_ARENA
from ratings.style import STYLE_FEATURES

from . import counting
from .models import Ledger, LedgerChunk
from .rules import FACTS, Rules, VoteRow, exclusion_reason, prompt_sample_key

CHUNK_VOTES = 65_536  # votes per stored chunk: a refresh rewrites the last one (about 3 MB) and any it judged again
PASSING, CAPPED = 0, 1  # statuses; rule 1 and 2 reasons follow, from 2 (``Judgement.reasons``)
FLAGS = tuple(name for name in counting.FACT_NAMES if name != "language")  # boolean facts, one bit each
# A cell key packs (model A, model B, outcome, boolean facts, language) into 64 bits.
MODEL_BITS, OUTCOME_BITS, LANGUAGE_BITS = 24, 2, 64 - 2 * 24 - 2 - len(FLAGS)
K = len(STYLE_FEATURES)


def rules_key(rules: Rules) -> str:
    """The thresholds that decide a vote's status and cell, and which prompts are followed for rule 4 (the others
    are applied at each refresh)."""
    return json.dumps({"ledger": 2, "min_vote_seconds": rules.min_vote_seconds, "cap": rules.max_votes_per_ip_per_day,
                       "long_prompt_chars": rules.long_prompt_chars,
                       "prompt_min_votes": rules.duplicate_prompt_min_votes, "facts": list(counting.FACT_NAMES),
                       "outcomes": sorted(FROM_ARENA), "style": list(STYLE_FEATURES)}, sort_keys=True)


# ---- packing --------------------------------------------------------------------------------------------------------


def _pack(arrays: dict[str, NDArray[Any]]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # the stub's allow_pickle catches the names
    return buffer.getvalue()


def _unpack(data: bytes | memoryview) -> dict[str, NDArray[Any]]:
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def cell_keys(a: NDArray[np.int64], b: NDArray[np.int64], outcome: NDArray[Any], flags: NDArray[Any],
              language: NDArray[Any]) -> NDArray[np.uint64]:
    """Cell keys of votes: model ids, outcome code, the boolean facts as bits, and the language's index."""
    if len(a) and (max(int(a.max()), int(b.max())) >= 1 << MODEL_BITS or int(language.max()) >= 1 << LANGUAGE_BITS):
        raise ValueError("model ids or languages beyond what a ledger cell key holds")
    key = a.astype(np.uint64)
    for part, bits in ((b, MODEL_BITS), (outcome, OUTCOME_BITS), (flags, len(FLAGS)), (language, LANGUAGE_BITS)):
        key = (key << np.uint64(bits)) | part.astype(np.uint64)
    return key


def _cell_columns(keys: NDArray[np.uint64]) -> tuple[NDArray[np.int64], ...]:
    """(model A, model B, outcome, flags, language) of cell keys."""
    parts = []
    for bits in (LANGUAGE_BITS, len(FLAGS), OUTCOME_BITS, MODEL_BITS):
        parts.append((keys & np.uint64((1 << bits) - 1)).astype(np.int64))
        keys = keys >> np.uint64(bits)
    language, flags, outcome, b = parts
    return keys.astype(np.int64), b, outcome, flags, language


# ---- the judgement in memory ----------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """Consecutive votes, sorted by id: ``status`` per vote, ``cell`` (-1 unless passing), style counts (NaN rows for
    battles without complete ones)."""

    pk: int | None
    ids: NDArray[np.int64]
    status: NDArray[np.int8]
    cell: NDArray[np.int32]
    style: NDArray[np.float32] | None = None  # loaded only when the chunk changes (or is new)
    dirty: bool = False
    counted: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))  # set by Judgement.tally

    @property
    def first(self) -> int:
        return int(self.ids[0])


@dataclass
class Judgement:
    """Every vote as rules 1-3 judged it, in chunks, with the cells, reasons, languages and often-asked prompts."""

    ledger: Ledger | None
    rules: Rules
    chunks: list[Chunk]
    keys: NDArray[np.uint64]  # the cell keys, by cell number
    reasons: list[str]  # status 2 + i is reasons[i]
    languages: list[str]
    # The prompts with more votes than ``ledger.frequent_floor``: fingerprint -> the ids of their votes (sorted).
    frequent: dict[str, NDArray[np.int64]]
    seen: int  # the largest vote id judged (0: none)
    judged_again: int = 0  # votes judged in this refresh (new, late, changed, or in their partitions)
    _order: NDArray[np.int64] | None = field(default=None, repr=False)

    # -- reading the whole --

    def ids(self) -> NDArray[np.int64]:
        return np.concatenate([c.ids for c in self.chunks]) if self.chunks else np.zeros(0, dtype=np.int64)

    @property
    def votes(self) -> int:
        return sum(len(c.ids) for c in self.chunks)

    def duplicates(self) -> NDArray[np.int64]:
        """The ids rule 4 leaves out (sorted): of the prompts with more passing votes than the cap, those beyond it in
        the fixed scrambled order. The ledger holds the vote ids of every prompt that can be over the cap."""
        cap = self.rules.prompt_cap(sum(int(np.count_nonzero(c.status == PASSING)) for c in self.chunks))
        dropped: list[int] = []
        for fp in sorted(fp for fp, ids in self.frequent.items() if len(ids) > cap):
            found = self.frequent[fp]
            passing = found[self._status_of(found) == PASSING]
            if len(passing) > cap:
                ranked = sorted(passing.tolist(), key=prompt_sample_key)
                dropped.extend(vote_id for rank, vote_id in enumerate(ranked, start=1) if rank > cap)
        return np.sort(np.array(dropped, dtype=np.int64))

    def tally(self) -> counting.Tally:
        """What :func:`leaderboard.counting.tally` gives for the same votes and rules; marks each chunk's counted votes
        (``Chunk.counted``) for :meth:`style_battles` and :meth:`fresh_votes`. Works chunk by chunk: no array of every
        vote is made."""
        dropped = self.duplicates()
        n = len(self.keys)
        count = np.zeros(n, dtype=np.int64)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(n, -1, dtype=np.int64)
        statuses = np.zeros(2 + len(self.reasons), dtype=np.int64)
        capped: list[NDArray[np.int64]] = []
        for chunk in self.chunks:
            counted = chunk.status == PASSING
            counted[_member(chunk.ids, dropped)] = False
            chunk.counted = counted
            kept_cells, kept_ids = chunk.cell[counted], chunk.ids[counted]
            count += np.bincount(kept_cells, minlength=n)
            np.minimum.at(first, kept_cells, kept_ids)
            np.maximum.at(last, kept_cells, kept_ids)
            statuses += np.bincount(chunk.status, minlength=len(statuses))
            capped.append(chunk.ids[chunk.status == CAPPED])
        present = np.flatnonzero(count)
        a, b, outcome, flags, language = _cell_columns(self.keys[present])
        facts: dict[str, NDArray[Any]] = {name: (flags >> (len(FLAGS) - 1 - i)) & 1 == 1 for i, name in enumerate(FLAGS)}
        # Languages numbered as the cells use them: only the languages of counted votes, like the SQL path.
        used = np.unique(language)
        renumber = np.full(len(self.languages), -1, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        facts["language"] = renumber[language]
        cells = counting.Cells(model_a=a, model_b=b, outcome=outcome.astype(np.int8), facts=facts,
                               languages=[self.languages[i] for i in used], count=count[present],
                               first_vote=first[present], last_vote=last[present])
        excluded = {self.reasons[code - 2]: int(n) for code, n in enumerate(statuses) if code >= 2 and n}
        over_cap = np.concatenate(capped) if capped else np.zeros(0, dtype=np.int64)
        if len(over_cap):
            excluded["ip_daily_cap"] = len(over_cap)
        if len(dropped):
            excluded["duplicate_prompt"] = len(dropped)
        excluded["failed_battle"] = Battle.objects.filter(status=Battle.Status.FAILED).count()
        seen = max((int(c.ids[-1]) for c in self.chunks if len(c.ids)), default=None)
        return counting.Tally(cells, dict(sorted(excluded.items())), np.union1d(over_cap, dropped), seen)

    def _status_of(self, wanted: NDArray[np.int64]) -> NDArray[np.int8]:
        """The status of each wanted id (-1 where the id is not judged)."""
        return self._lookup(wanted, "status", np.full(len(wanted), -1, dtype=np.int8))

    def _counted_among(self, wanted: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each wanted id is counted (after :meth:`tally`)."""
        return self._lookup(wanted, "counted", np.zeros(len(wanted), dtype=bool))

    def _lookup(self, wanted: NDArray[np.int64], column: str, out: NDArray[Any]) -> NDArray[Any]:
        """``out`` with the chunks' ``column`` entry of each wanted id that is in a chunk."""
        for chunk in self.chunks:
            if not len(chunk.ids):
                continue
            at = np.minimum(np.searchsorted(chunk.ids, wanted), len(chunk.ids) - 1)
            found = chunk.ids[at] == wanted
            out[found] = getattr(chunk, column)[at[found]]
        return out

    def style_battles(self, names: dict[int, str]) -> counting.ViewBattles | None:
        """What :func:`leaderboard.counting.style_battles` gives: the counted votes with complete style counts, in vote
        order, read chunk by chunk into arrays allocated once (after :meth:`tally` and :meth:`fresh_votes`).

        Uses the judgement up: each chunk's arrays are freed once read, so that the style-controlled view's arrays
        (about 49 bytes a battle) grow as the ledger's (13 bytes a vote) shrink.
        """
        size = sum(int(np.count_nonzero(c.counted)) for c in self.chunks)
        for chunk in self.chunks:  # only the cells and the counted marks are read from here on
            chunk.ids, chunk.status = np.zeros(0, np.int64), np.zeros(0, np.int8)
        model_a = np.empty(size, dtype=np.int64)
        model_b = np.empty(size, dtype=np.int64)
        outcome = np.empty(size, dtype=np.int8)
        style = np.empty((size, 2 * K), dtype=np.float32)
        a_of, b_of, outcome_of, _, _ = _cell_columns(self.keys)
        # Each model's first row, as counting.first_appearance finds it, gathered chunk by chunk (no array of the
        # positions of every row).
        never = np.iinfo(np.int64).max
        first = np.full(int(max(a_of.max(), b_of.max())) + 1 if len(self.keys) else 0, never, dtype=np.int64)
        filled = 0
        for chunk, chunk_style in self._styles():
            keep = chunk.counted & ~np.isnan(chunk_style[:, 0])
            cells = chunk.cell[keep]
            end = filled + len(cells)
            model_a[filled:end], model_b[filled:end], outcome[filled:end] = a_of[cells], b_of[cells], outcome_of[cells]
            positions = np.arange(filled, end, dtype=np.int64) * 2
            np.minimum.at(first, model_a[filled:end], positions)
            np.minimum.at(first, model_b[filled:end], positions + 1)
            style[filled:end] = chunk_style[keep]
            filled = end
            del chunk_style
            chunk.ids, chunk.status, chunk.cell = np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int32)
            chunk.counted, chunk.style = np.zeros(0, bool), None
        self.chunks = []
        if not filled:
            return None
        present = np.flatnonzero(first != never)
        order = present[np.argsort(first[present], kind="stable")]
        return counting.style_view(model_a[:filled], model_b[:filled], outcome[:filled], style[:filled], order, names)

    def _styles(self) -> Iterator[tuple[Chunk, NDArray[np.float32]]]:
        """Each chunk with its style counts; those not loaded are read one at a time, in the chunks' (vote id) order."""
        wanted = [c.pk for c in self.chunks if c.style is None and c.pk is not None]
        stored: Iterator[tuple[int, Any]] = iter(())
        if wanted:
            stored = LedgerChunk.objects.filter(pk__in=wanted).order_by("first_vote").values_list(
                "pk", "style").iterator(chunk_size=2)
        for chunk in self.chunks:
            if chunk.style is not None:
                yield chunk, chunk.style
                continue
            pk, data = next(stored, (None, None))
            if pk is None or pk != chunk.pk or data is None:
                raise ValueError(f"ledger chunk {chunk.pk} is missing")
            yield chunk, _unpack(data)["style"]

    def fresh_votes(self) -> dict[int, int]:
        """:func:`leaderboard.counting.fresh_votes` from the counted ids (after :meth:`tally`)."""
        result: dict[int, int] = {}
        models = ArenaModel.objects.filter(prerelease_variants__gte=2, released_at__isnull=False)
        for pk, released in models.values_list("pk", "released_at"):
            ids = np.fromiter(Vote.objects.filter(Q(battle__model_a_id=pk) | Q(battle__model_b_id=pk),
                                                  created_at__gte=released).values_list("pk", flat=True).iterator(
                chunk_size=20_000), dtype=np.int64)
            found = int(np.count_nonzero(self._counted_among(ids)))
            if found:
                result[pk] = found
        return result

    # -- judging --

    def judge(self, rows: Sequence[VoteRow], styles: dict[int, NDArray[np.float32]]) -> None:
        """Judge rules 1-3 for ``rows`` (whole partitions, in id order) and put them in the chunks; ``styles`` holds the
        style counts of the rows not in the ledger yet, by vote id."""
        if not rows:
            return
        counter: Counter[tuple[str, str]] = Counter()
        reason_code = {reason: i + 2 for i, reason in enumerate(self.reasons)}
        language_code = {language: i for i, language in enumerate(self.languages)}
        ids = np.empty(len(rows), dtype=np.int64)
        status = np.empty(len(rows), dtype=np.int8)
        passing: list[int] = []
        for i, row in enumerate(rows):
            reason = exclusion_reason(row, self.rules, counter)
            ids[i] = row.vote_id
            if not reason:
                status[i] = PASSING
                passing.append(i)
            elif reason == "ip_daily_cap":
                status[i] = CAPPED
            else:
                if reason not in reason_code:
                    reason_code[reason] = len(self.reasons) + 2
                    self.reasons.append(reason)
                status[i] = reason_code[reason]
        cell = np.full(len(rows), -1, dtype=np.int32)
        if passing:
            chosen = [rows[i] for i in passing]
            for row in chosen:
                if row.language not in language_code:
                    language_code[row.language] = len(self.languages)
                    self.languages.append(row.language)
            outcome = np.array([_outcome(row.outcome) for row in chosen], dtype=np.int64)
            flags = np.zeros(len(chosen), dtype=np.int64)
            for name in FLAGS:
                flags = (flags << 1) | np.array([bool(FACTS[name](row, self.rules)) for row in chosen], dtype=np.int64)
            keys = cell_keys(np.array([r.model_a for r in chosen], dtype=np.int64),
                             np.array([r.model_b for r in chosen], dtype=np.int64), outcome, flags,
                             np.array([language_code[r.language] for r in chosen], dtype=np.int64))
            cell[passing] = self._cell_numbers(keys)
        self._place(ids, status, cell, styles)
        self.judged_again += len(rows)

    def _cell_numbers(self, keys: NDArray[np.uint64]) -> NDArray[np.int32]:
        """Cell numbers of keys; keys not seen before become new cells."""
        if self._order is None:
            self._order = np.argsort(self.keys, kind="stable")
        sorted_keys = self.keys[self._order]
        at = np.searchsorted(sorted_keys, keys)
        found = at < len(sorted_keys)
        found[found] = sorted_keys[at[found]] == keys[found]
        numbers = np.empty(len(keys), dtype=np.int64)
        numbers[found] = self._order[at[found]]
        if not found.all():
            new_keys, inverse = np.unique(keys[~found], return_inverse=True)
            numbers[~found] = len(self.keys) + inverse
            self.keys = np.concatenate([self.keys, new_keys])
            self._order = None
        return numbers.astype(np.int32)

    def _place(self, ids: NDArray[np.int64], status: NDArray[np.int8], cell: NDArray[np.int32],
               styles: dict[int, NDArray[np.float32]]) -> None:
        """Write judged votes into their chunks: over the old entry if the vote is in one, else added."""
        order = np.argsort(ids)
        ids, status, cell = ids[order], status[order], cell[order]
        starts = np.array([c.first for c in self.chunks], dtype=np.int64)
        # A vote goes to the last chunk starting at or below its id (the first chunk for an id below every start).
        home = np.maximum(np.searchsorted(starts, ids, side="right") - 1, 0) if len(starts) else np.zeros(0, dtype=int)
        new_tail: list[int] = []
        for c, chunk in enumerate(self.chunks):
            mine = np.flatnonzero(home == c)
            if c == len(self.chunks) - 1:
                # Votes beyond the last chunk's end that do not fit in it start new chunks.
                room = max(CHUNK_VOTES - len(chunk.ids), 0)
                beyond = mine[ids[mine] > chunk.ids[-1]]
                overflow = beyond[room:]
                new_tail = overflow.tolist()
                mine = np.setdiff1d(mine, overflow, assume_unique=True)
            if len(mine):
                self._merge(chunk, ids[mine], status[mine], cell[mine], styles)
        if not self.chunks:
            new_tail = list(range(len(ids)))
        for start in range(0, len(new_tail), CHUNK_VOTES):
            part = np.array(new_tail[start:start + CHUNK_VOTES], dtype=np.int64)
            chunk = Chunk(None, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int32),
                          np.zeros((0, 2 * K), dtype=np.float32))
            self._merge(chunk, ids[part], status[part], cell[part], styles)
            self.chunks.append(chunk)
        self.seen = max(self.seen, int(ids[-1]))

    def _merge(self, chunk: Chunk, ids: NDArray[np.int64], status: NDArray[np.int8], cell: NDArray[np.int32],
               styles: dict[int, NDArray[np.float32]]) -> None:
        if chunk.style is None:
            chunk.style = self._stored_style(chunk)
        at = np.searchsorted(chunk.ids, ids)
        present = at < len(chunk.ids)
        present[present] = chunk.ids[at[present]] == ids[present]
        chunk.status[at[present]] = status[present]
        chunk.cell[at[present]] = cell[present]
        fresh = ~present
        if fresh.any():
            added = ids[fresh]
            missing = [int(pk) for pk in added if int(pk) not in styles]
            if missing:
                raise ValueError(f"no style counts read for votes {missing[:5]}")
            style = np.array([styles[int(pk)] for pk in added], dtype=np.float32).reshape(len(added), 2 * K)
            all_ids = np.concatenate([chunk.ids, added])
            order = np.argsort(all_ids, kind="stable")
            chunk.ids = all_ids[order]
            chunk.status = np.concatenate([chunk.status, status[fresh]])[order]
            chunk.cell = np.concatenate([chunk.cell, cell[fresh]])[order]
            chunk.style = np.concatenate([chunk.style, style])[order]
        chunk.dirty = True

    def _stored_style(self, chunk: Chunk) -> NDArray[np.float32]:
        data = None if chunk.pk is None else LedgerChunk.objects.filter(pk=chunk.pk).values_list(
            "style", flat=True).first()
        if data is None:
            raise ValueError(f"ledger chunk {chunk.pk} is missing")
        return _unpack(data)["style"].copy()

    # -- storing --

    def save(self) -> None:
        """Store what changed: the ledger row and the chunks judged again (inside the refresh's transaction)."""
        prompts = sorted(self.frequent)
        meta = {"reasons": self.reasons, "languages": self.languages, "prompts": prompts}
        cells = _pack({"keys": self.keys, "prompt_sizes": np.array([len(self.frequent[fp]) for fp in prompts], np.int64),
                       "prompt_ids": np.concatenate([self.frequent[fp] for fp in prompts]) if prompts
                       else np.zeros(0, np.int64)})
        if self.ledger is None:
            Ledger.objects.exclude(rules=rules_key(self.rules)).delete()
            self.ledger = Ledger.objects.create(rules=rules_key(self.rules), seen=self.seen, votes=self.votes,
                                                meta=meta, cells=cells)
        else:
            Ledger.objects.filter(pk=self.ledger.pk).update(seen=self.seen, votes=self.votes, meta=meta, cells=cells,
                                                            updated_at=timezone.now())
        empty = [c for c in self.chunks if not len(c.ids)]
        LedgerChunk.objects.filter(pk__in=[c.pk for c in empty if c.pk is not None]).delete()
        self.chunks = [c for c in self.chunks if len(c.ids)]
        for chunk in self.chunks:
            if chunk.dirty:
                self.write(chunk)

    def write(self, chunk: Chunk) -> None:
        """Store one chunk of this ledger (whose row must exist)."""
        if chunk.style is None or self.ledger is None:
            raise ValueError("a changed ledger chunk needs its ledger's row and its style counts loaded")
        judged = _pack({"ids": chunk.ids, "status": chunk.status, "cell": chunk.cell})
        style = _pack({"style": chunk.style})
        if chunk.pk is None:
            chunk.pk = LedgerChunk.objects.create(ledger=self.ledger, first_vote=chunk.first, votes=len(chunk.ids),
                                                  judged=judged, style=style).pk
        else:
            LedgerChunk.objects.filter(pk=chunk.pk).update(first_vote=chunk.first, votes=len(chunk.ids),
                                                           judged=judged, style=style)
        chunk.dirty = False


def _outcome(outcome: str) -> int:
    if outcome not in FROM_ARENA:
        raise ValueError("a vote has an outcome the ratings engine does not know")
    return int(FROM_ARENA[outcome])


def _member(values: NDArray[np.int64], sorted_set: NDArray[np.int64]) -> NDArray[np.bool_]:
    return counting._member(values, sorted_set)
