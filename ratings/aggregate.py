"""Aggregate battles into counts per unordered pair and outcome.

Bradley–Terry without a first-mover advantage depends on the battles only through these counts,
so everything downstream (fits, bootstrap, sandwich) works on at most ``n (n - 1) / 2`` pairs
instead of on millions of battles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.data import Battles, Outcome

FIRST_WINS = 0
SECOND_WINS = 1
TIES = 2

# The score of the first model of a pair in each column when ties count as half a win.
COLUMN_SCORE = np.array([1.0, 0.0, 0.5])
COLUMN_SCORE.setflags(write=False)

_DENSE_LIMIT = 1 << 24


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
        The battles; their weights, if any, are summed per cell.

    Returns
    -------
    PairCounts
        One row per pair of models that met at least once, sorted by (first, second).
    """
    n = battles.n_models
    a, b = battles.model_a, battles.model_b
    first = np.minimum(a, b)
    second = np.maximum(a, b)
    swapped = a > b
    column = np.minimum(battles.outcome, Outcome.TIE).astype(np.int64)
    decisive = column < TIES
    column[decisive & swapped] = 1 - column[decisive & swapped]
    key = (first * n + second) * 3 + column
    size = n * n * 3
    if size <= _DENSE_LIMIT:
        counts = np.bincount(key, minlength=size).astype(np.float64)
        cells = counts.reshape(n * n, 3)
        pair_keys = np.flatnonzero(cells.sum(axis=1))
        inverse = None
    else:
        unique, inverse = np.unique(key // 3, return_inverse=True)
        pair_keys = unique
        cells = np.zeros((len(unique), 3))
        np.add.at(cells, (inverse, column), 1.0)
    weights, weights_sq = _weighted_cells(battles.weights, key, size, pair_keys, inverse, column)
    dense_rows = pair_keys if inverse is None else slice(None)
    counts_out = cells[dense_rows]
    return PairCounts(
        n_models=n,
        first=(pair_keys // n).astype(np.int64),
        second=(pair_keys % n).astype(np.int64),
        counts=counts_out,
        weights=counts_out if weights is None else weights,
        weights_sq=counts_out if weights_sq is None else weights_sq,
    )


def _weighted_cells(
    w: NDArray[np.float64] | None,
    key: NDArray[np.int64],
    size: int,
    pair_keys: NDArray[np.int64],
    inverse: NDArray[np.int64] | None,
    column: NDArray[np.int64],
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
    if w is None:
        return None, None
    if inverse is None:
        sums = weighted_bincount(key, w, size).reshape(-1, 3)[pair_keys]
        squares = weighted_bincount(key, w * w, size).reshape(-1, 3)[pair_keys]
        return sums, squares
    sums_sparse = np.zeros((len(pair_keys), 3))
    squares_sparse = np.zeros((len(pair_keys), 3))
    np.add.at(sums_sparse, (inverse, column), w)
    np.add.at(squares_sparse, (inverse, column), w * w)
    return sums_sparse, squares_sparse


def weighted_bincount(index: NDArray[np.int64], weights: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """``np.bincount`` with weights, typed as the float array it returns."""
    return np.asarray(np.bincount(index, weights, size), dtype=np.float64)


def pair_totals(pairs: PairCounts) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the weighted number of battles and the first model's score (ties as half) per pair."""
    totals = pairs.weights.sum(axis=1)
    scores = pairs.weights @ COLUMN_SCORE
    return totals, scores
