"""Simulated arenas shaped like LMArena's text leaderboard: many models, sparse pairs, known truth.

LMArena's public leaderboard lists a few hundred models. Models arrive over time and are retired,
so most pairs never meet; popular models collect tens of thousands of votes while a new one has a
few hundred. :func:`simulate_arena` draws battles with that shape from a Bradley–Terry model whose
true strengths it returns, so tests can check interval coverage against the truth and benchmarks
can time the engine on a realistic shape. Everything depends only on ``seed``.

Shape, in order of the draws:

- true strengths ``N(0, strength_sd²)`` in natural-log units;
- each model is active on an interval of the arena's lifetime ``[0, 1)``: arrivals uniform on
  ``[0, 0.9)``, lifetimes uniform on ``[lifetime_min, 1)`` (clipped at the end);
- each battle happens at a uniform time; its two models are drawn without replacement among the
  models active then, with Zipf-like popularity ``1 / rank^popularity_exponent`` over a random
  popularity order (at a time with fewer than two active models, the two earliest arrivals play);
- A wins with probability ``σ(s_a − s_b)``; then, independently of the models, the outcome is
  replaced by a tie with probability ``tie_rate`` and by "both bad" with ``both_bad_rate``.
  Ties drawn that way pull ties-as-half estimates towards 0, so coverage tests use rates of 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.data import Battles
from ratings.outcomes import BOTH_BAD, TIE

__all__ = ["SimulatedArena", "simulate_arena"]


@dataclass(frozen=True)
class SimulatedArena:
    """Simulated battles and the true natural-log strengths (mean zero) that generated them."""

    battles: Battles
    strengths: NDArray[np.float64]


def simulate_arena(n_models: int, n_battles: int, seed: int, *, strength_sd: float = 1.0,
                   popularity_exponent: float = 1.1, lifetime_min: float = 0.2, tie_rate: float = 0.0,
                   both_bad_rate: float = 0.0) -> SimulatedArena:
    """Battles among ``n_models`` models in the sparse, staggered shape described in the module doc."""
    if n_models < 2:
        raise ValueError("an arena needs at least 2 models")
    if n_battles < 1:
        raise ValueError("n_battles must be positive")
    if not 0.0 <= tie_rate + both_bad_rate <= 1.0 or tie_rate < 0 or both_bad_rate < 0:
        raise ValueError("tie_rate and both_bad_rate must be non-negative and sum to at most 1")
    if not 0.0 < lifetime_min <= 1.0:
        raise ValueError("lifetime_min must be in (0, 1]")
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0.0, strength_sd, n_models)
    strengths -= strengths.mean()
    arrival = rng.uniform(0.0, 0.9, n_models)
    arrival[rng.integers(n_models)] = 0.0  # someone is there from the start
    retire = np.minimum(arrival + rng.uniform(lifetime_min, 1.0, n_models), 1.0)
    popularity = 1.0 / rng.permutation(np.arange(1, n_models + 1)) ** popularity_exponent

    times = np.sort(rng.random(n_battles))
    a = np.empty(n_battles, dtype=np.int64)
    b = np.empty(n_battles, dtype=np.int64)
    # Active sets change only at arrivals and retirements: draw each segment's battles together.
    edges = np.unique(np.concatenate([[0.0, 1.0], arrival, retire]))
    bounds = np.searchsorted(times, edges)
    for start, stop, time in zip(bounds[:-1], bounds[1:], edges[:-1], strict=True):
        if stop == start:
            continue
        active = np.flatnonzero((arrival <= time) & (retire > time))
        if len(active) < 2:  # nobody to pair with: the two earliest arrivals play
            active = np.argsort(arrival)[:2]
        weight = popularity[active] / popularity[active].sum()
        k = stop - start
        first = rng.choice(len(active), size=k, p=weight)
        # The second model: popularity-weighted among the others (rejection on collisions).
        second = rng.choice(len(active), size=k, p=weight)
        clash = second == first
        while clash.any():
            second[clash] = rng.choice(len(active), size=int(clash.sum()), p=weight)
            clash = second == first
        a[start:stop] = active[first]
        b[start:stop] = active[second]

    p_a = 1.0 / (1.0 + np.exp(strengths[b] - strengths[a]))
    outcome = np.where(rng.random(n_battles) < p_a, 0, 1).astype(np.int8)
    draw = rng.random(n_battles)
    outcome[draw < tie_rate + both_bad_rate] = TIE
    outcome[draw < both_bad_rate] = BOTH_BAD
    names = [f"model-{i:04d}" for i in range(n_models)]
    battles = Battles(a, b, outcome, names, tstamp=times)
    return SimulatedArena(battles, strengths)
