"""Sandwich intervals where the refresh uses them instead of the bootstrap (``ARENA_BOOTSTRAP_MAX_VOTES``, 100,000 votes).

At that size the normal approximation is what both intervals rest on: the sandwich must cover the truth of
well-determined models as the bootstrap does, and give about the same bounds.
"""

from __future__ import annotations

import numpy as np

from ratings.bradley_terry import ELO_PER_NAT
from ratings.leaderboard import compute_leaderboard
from ratings.simulation import simulate_arena

MODELS, BATTLES = 300, 100_000


def test_sandwich_intervals_cover_the_truth_at_the_size_where_the_refresh_switches_to_them():
    covered = seen = 0
    for seed in range(40):
        arena = simulate_arena(MODELS, BATTLES, seed)
        board = compute_leaderboard(arena.battles, ci="sandwich", elo_k=None)
        # The intervals are for a rating relative to the battle-weighted mean of the ratings (where the board's
        # average 1000): the truth in that gauge.
        index = {name: i for i, name in enumerate(arena.battles.names)}
        present = [index[row.model] for row in board.rows]
        played = np.array([row.battles for row in board.rows], dtype=np.float64)
        weight = played / played.sum()
        fitted = (np.array([row.rating for row in board.rows]) - 1000) / ELO_PER_NAT
        truth = arena.strengths[present] - weight @ arena.strengths[present] + weight @ fitted
        for row, value in zip(board.rows, truth, strict=True):
            if row.battles >= 200:
                seen += 1
                covered += row.lower <= 1000 + value * ELO_PER_NAT <= row.upper
    assert seen > 4000
    assert 0.93 <= covered / seen <= 0.97


def test_sandwich_and_bootstrap_bounds_agree_for_well_determined_models_at_that_size():
    for seed in (3, 4):
        arena = simulate_arena(MODELS, BATTLES, seed)
        sandwich = {row.model: row for row in compute_leaderboard(arena.battles, ci="sandwich", elo_k=None).rows}
        boot = compute_leaderboard(arena.battles, ci="bootstrap", rounds=1000, seed=seed, elo_k=None)
        compared = 0
        for row in boot.rows:
            if row.battles < 1000:
                continue
            other = sandwich[row.model]
            assert other.rating == row.rating
            width = row.upper - row.lower
            # Bounds relative to the rating (the sandwich's gauge is the battle-weighted mean of every model, the
            # bootstrap's that of its reference models).
            assert abs((other.upper - other.rating) - (row.upper - row.rating)) <= 0.15 * width
            assert abs((other.rating - other.lower) - (row.rating - row.lower)) <= 0.15 * width
            compared += 1
        assert compared > 25
