"""Fragility: the fewest votes found whose removal reverses two adjacent models, checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ratings.aggregate import PairCounts
from ratings.bradley_terry import fit_bradley_terry
from ratings.fragility import fragility, ranking_fragility


def pairs_of(n: int, cells: dict[tuple[int, int], tuple[int, int, int]]) -> PairCounts:
    first = np.array([a for a, _ in cells], dtype=np.int64)
    second = np.array([b for _, b in cells], dtype=np.int64)
    counts = np.array(list(cells.values()), dtype=np.float64)
    return PairCounts(n, first, second, counts, counts.copy(), counts.copy())


def reversed_after(pairs: PairCounts, removed: np.ndarray, i: int, j: int) -> bool:
    fit = fit_bradley_terry(pairs.with_weights(pairs.counts - removed))
    return bool(fit.strengths[i] <= fit.strengths[j])


def test_two_models_reverse_when_the_leaders_surplus_of_wins_is_removed() -> None:
    pairs = pairs_of(2, {(0, 1): (60, 40, 0)})
    fit = fit_bradley_terry(pairs)
    found = fragility(pairs, fit.strengths, 0, 1)
    assert found.votes == 20 and found.share == pytest.approx(0.2)
    assert found.removed is not None and found.removed.tolist() == [[20.0, 0.0, 0.0]]  # 40 wins each: level
    assert reversed_after(pairs, found.removed, 0, 1)
    assert not reversed_after(pairs, found.removed - np.array([[1.0, 0, 0]]), 0, 1)  # one fewer is not enough


def brute_force_minimum(pairs: PairCounts, i: int, j: int, limit: int) -> int | None:
    """The true smallest number of removed votes reversing i over j, by trying every removal of up to limit votes."""
    flat = pairs.counts.ravel().astype(int)
    cells = [k for k in range(flat.size) if flat[k]]
    for size in range(1, limit + 1):
        for combo in itertools.combinations_with_replacement(cells, size):
            removed = np.bincount(combo, minlength=flat.size).astype(np.float64)
            if (removed > flat).any():
                continue
            left = flat - removed
            if min(np.bincount(pairs.first, left.reshape(-1, 3).sum(1), pairs.n_models)
                   + np.bincount(pairs.second, left.reshape(-1, 3).sum(1), pairs.n_models)) == 0:
                continue  # a model left with no battle has no rating
            if reversed_after(pairs, removed.reshape(pairs.counts.shape), i, j):
                return size
    return None


@pytest.mark.parametrize("seed", range(6))
def test_the_count_found_reverses_the_order_and_is_close_to_the_true_minimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    strengths = np.array([0.5, 0.3, 0.0])
    cells = {}
    for a, b in ((0, 1), (0, 2), (1, 2)):
        n = int(rng.integers(6, 10))
        p = 1 / (1 + np.exp(strengths[b] - strengths[a]))
        wins = int(rng.binomial(n, p * 0.9))
        ties = int(rng.binomial(n - wins, 0.15))
        cells[(a, b)] = (wins, n - wins - ties, ties)
    pairs = pairs_of(3, cells)
    fit = fit_bradley_terry(pairs)
    order = [int(k) for k in np.argsort(-fit.strengths)]
    top, second = order[0], order[1]
    found = fragility(pairs, fit.strengths, top, second)
    assert found.votes is not None and found.removed is not None
    assert found.removed.sum() == found.votes and (found.removed <= pairs.counts).all()
    assert reversed_after(pairs, found.removed, top, second)  # what it claims holds on refitting
    truth = brute_force_minimum(pairs, top, second, found.votes)
    assert truth is not None and truth <= found.votes <= truth + 1  # an upper bound, and a tight one here


def test_a_clear_leader_holds_beyond_the_budget() -> None:
    pairs = pairs_of(2, {(0, 1): (95, 5, 0)})
    fit = fit_bradley_terry(pairs)
    found = fragility(pairs, fit.strengths, 0, 1, max_share=0.5)
    assert found.votes is None and found.budget == 50  # 90 of the winner's wins would have to go


def test_the_ranking_is_checked_pair_by_pair_from_the_top() -> None:
    pairs = pairs_of(3, {(0, 1): (30, 20, 5), (0, 2): (40, 10, 0), (1, 2): (35, 15, 0)})
    fit = fit_bradley_terry(pairs)
    order = [int(k) for k in np.argsort(-fit.strengths)]
    found = ranking_fragility(pairs, fit.strengths, order, top=2)
    assert [(f.above, f.below) for f in found] == [(order[0], order[1]), (order[1], order[2])]
    assert all(f.votes is not None and f.votes > 0 for f in found)
    assert found[0].votes < found[1].votes  # the closer pair is the more fragile
