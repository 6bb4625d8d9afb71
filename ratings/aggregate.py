"""Aggregate battles into counts per unordered pair and outcome.

Bradley–Terry without a first-mover advantage depends on the battles only through these counts,
so everything downstream (fits, bootstrap, sandwich) works on at most ``n (n - 1) / 2`` pairs
instead of on millions of battles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.data import Battles
from ratings.outcomes import SCORE_A, Outcome

FIRST_WINS = 0
SECOND_WINS = 1
TIES = 2

# The score of the first model of a pair in each column when ties count as half a win.
COLUMN_SCORE = SCORE_A[[Outcome.A, Outcome.B, Outcome.TIE]]
COLUMN_SCORE.setflags(write=False)

_DENSE_LIMIT = 1 << 24
_BLOCK = 1 << 20  # battles per block of the dense aggregation


@dataclass(frozen=True)
class PairCounts:
    """Counts per unordered pair ``first < second`` and outcome column.

    Columns are (first wins, second wins, tie); "both bad" counts as a tie. ``counts`` holds the
    number of battles, ``weights`` the sum of battle weights and ``weights_sq`` the sum of squared
    weights (needed by the sandwich estimator); without weights all three are equal.
    """

    n_models: int
    first: NDArray[np.int64]
    second: NDArray[np.int64]
    counts: NDArray[np.float64]
    weights: NDArray[np.float64]
    weights_sq: NDArray[np.float64]

    @property
    def n_pairs(self) -> int:
        return len(self.first)

    @property
    def n_battles(self) -> float:
        return float(self.counts.sum())

    def with_weights(self, weights: NDArray[np.float64]) -> PairCounts:
        """Return the same pairs with new weighted counts (used for bootstrap replicates)."""
        return PairCounts(self.n_models, self.first, self.second, weights, weights, weights)


def aggregate(battles: Battles) -> PairCounts:
    """Aggregate battles into :class:`PairCounts`.

    Parameters
    ----------
    battles
        The battles; their counts (frequencies) and weights, if any, are summed per cell.

    Returns
    -------
    PairCounts
        One row per pair of models that met at least once, sorted by (first, second).
    """
    n = battles.n_models
    if n * n * 3 <= _DENSE_LIMIT:
        # Block by block: the temporaries per battle (keys, columns, weights) never exist for millions at once.
        sums = None
        for lo in range(0, len(battles), _BLOCK):
            key, per_row = _cell_keys(battles, lo, lo + _BLOCK)
            block = [weighted_bincount(key, v, n * n * 3) for v in per_row]
            sums = block if sums is None else [total + part for total, part in zip(sums, block, strict=True)]
        width = 1 if battles.weights is None else 3
        dense = [np.zeros(n * n * 3) for _ in range(width)] if sums is None else sums
        dense = [cells.reshape(n * n, 3) for cells in dense]
        pair_keys = np.flatnonzero(dense[0].sum(axis=1))
        sums = [cells[pair_keys] for cells in dense]
    else:
        key, per_row = _cell_keys(battles, 0, len(battles))
        pair_keys, inverse = np.unique(key // 3, return_inverse=True)
        column = key % 3
        sums = [np.zeros((len(pair_keys), 3)) for _ in per_row]
        for cells, v in zip(sums, per_row, strict=True):
            np.add.at(cells, (inverse, column), 1.0 if v is None else v)
        met = sums[0].sum(axis=1) > 0
        pair_keys, sums = pair_keys[met], [cells[met] for cells in sums]
    counts = sums[0]
    return PairCounts(
        n_models=n,
        first=(pair_keys // n).astype(np.int64),
        second=(pair_keys % n).astype(np.int64),
        counts=counts,
        weights=sums[1] if len(sums) > 1 else counts,
        weights_sq=sums[2] if len(sums) > 1 else counts,
    )


def _cell_keys(battles: Battles, lo: int, hi: int) -> tuple[NDArray[np.int64], list[NDArray[np.float64] | None]]:
    """For battles ``lo:hi``: each one's cell ``(first * n + second) * 3 + column`` and its per-row sums (the
    frequency, and with weights the weighted frequency and its square)."""
    n = battles.n_models
    a, b = battles.model_a[lo:hi], battles.model_b[lo:hi]
    first = np.minimum(a, b).astype(np.int64)
    second = np.maximum(a, b).astype(np.int64)
    column = np.minimum(battles.outcome[lo:hi], Outcome.TIE).astype(np.int64)
    flip = (column < TIES) & (a > b)
    column[flip] = 1 - column[flip]
    frequency = None if battles.counts is None else battles.counts[lo:hi]
    per_row: list[NDArray[np.float64] | None] = [frequency]
    if battles.weights is not None:
        weights = battles.weights[lo:hi]
        w = weights if frequency is None else frequency * weights
        per_row += [w, w * weights]
    return (first * n + second) * 3 + column, per_row


def weighted_bincount(index: NDArray[np.int64], weights: NDArray[np.float64] | None, size: int
                      ) -> NDArray[np.float64]:
    """``np.bincount`` (with weights unless ``None``) as a float array of length ``size``."""
    return np.asarray(np.bincount(index, weights, size), dtype=np.float64)


def pair_totals(pairs: PairCounts) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the weighted number of battles and the first model's score (ties as half) per pair."""
    totals = pairs.weights.sum(axis=1)
    scores = pairs.weights @ COLUMN_SCORE
    return totals, scores
