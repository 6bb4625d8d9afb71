"""Bootstrap intervals on sparse, LMArena-shaped arenas where the truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.aggregate import aggregate
from ratings.bradley_terry import ELO_PER_NAT, fit_bradley_terry
from ratings.data import Battles
from ratings.diagnostics import DEFAULT_RIDGE, check_well_posed
from ratings.intervals import bootstrap_bradley_terry, percentile_intervals
from ratings.simulation import simulate_arena


def _played(battles: Battles) -> np.ndarray:
    n = battles.n_models
    return np.bincount(battles.model_a, minlength=n) + np.bincount(battles.model_b, minlength=n)


def test_sparse_arenas_cover_the_truth_of_well_determined_models_95_percent_of_the_time():
    # 100 simulated arenas of 100 models and 10,000 battles: staggered arrivals, Zipf popularity, so
    # most pairs never meet, some models have a dozen battles and about half the arenas are not
    # even well posed (a rare model that never lost). The intervals are for a model's rating
    # relative to the reference models' battle-weighted mean (``BootstrapResult.reference``), so
    # the truth is put in that same gauge. Well determined: at least 200 battles.
    covered, seen, ill_posed, partial = 0, 0, 0, 0
    for seed in range(100):
        arena = simulate_arena(100, 10_000, seed)
        pairs = aggregate(arena.battles)
        health = check_well_posed(pairs)
        ridge = 0.0 if health.well_posed else DEFAULT_RIDGE
        ill_posed += not health.well_posed
        fit = fit_bradley_terry(pairs, ridge=ridge)
        boot = bootstrap_bradley_terry(pairs, fit.strengths, rounds=400, seed=seed, ridge=ridge)
        assert boot.unconverged == 0
        partial += boot.partial
        played = _played(arena.battles)
        assert boot.reference is not None
        weight = np.where(boot.reference, played, 0) / played[boot.reference].sum()
        truth = arena.strengths - weight @ arena.strengths + weight @ fit.strengths
        lower, upper = percentile_intervals(boot.samples)
        well_determined = played >= 200
        covered += int(np.sum(((lower <= truth) & (truth <= upper))[well_determined]))
        seen += int(well_determined.sum())
    assert seen > 1500
    assert 20 < ill_posed < 80 and partial > 1000  # both paths of the bootstrap were exercised
    assert 0.93 <= covered / seen <= 0.97


def _dense_battles(n_models: int, n_battles: int, rng: np.random.Generator) -> tuple[list[tuple[int, int, int]], list[str]]:
    truth = rng.normal(0, 0.5, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    wins = rng.random(n_battles) < 1 / (1 + np.exp(truth[b] - truth[a]))
    return [(int(i), int(j), 0 if w else 1) for i, j, w in zip(a, b, wins, strict=True)], [f"m{i}" for i in range(n_models)]


def _battles(triples: list[tuple[int, int, int]], names: list[str]) -> Battles:
    array = np.array(triples, dtype=np.int64)
    return Battles(array[:, 0], array[:, 1], array[:, 2].astype(np.int8), names)


@pytest.mark.parametrize("record", [(5, 1), (9, 3)])
def test_a_rare_model_cannot_drag_the_other_models_intervals(record):
    # Twelve well-measured models; then a newcomer with a handful of battles. In a mean-of-all gauge
    # its swing from replicate to replicate (unbounded in some, a nat or two in others) would move
    # every other interval by ~1/13 of it (tens of points); in the reference gauge it weighs as
    # little as its battles.
    rng = np.random.default_rng(5)
    triples, names = _dense_battles(12, 6000, rng)
    wins, losses = record
    rare = [(12, int(j), 0) for j in rng.integers(0, 12, wins)] + [(12, int(j), 1) for j in rng.integers(0, 12, losses)]
    without = _battles(triples, names)
    with_rare = _battles(triples + rare, [*names, "rare"])
    bounds = []
    for battles in (without, with_rare):
        pairs = aggregate(battles)
        assert check_well_posed(pairs).well_posed
        fit = fit_bradley_terry(pairs)
        boot = bootstrap_bradley_terry(pairs, fit.strengths, rounds=1000, seed=3)
        lower, upper = percentile_intervals(boot.samples[:, :12])
        # Compare offsets from each fit's own ratings (the newcomer shifts the fitted mean a little).
        bounds.append(ELO_PER_NAT * np.c_[lower - fit.strengths[:12], upper - fit.strengths[:12]])
    # Different cells give different draws, so the endpoints differ by bootstrap noise (~1-2 points).
    assert np.abs(bounds[0] - bounds[1]).max() < 6.0
