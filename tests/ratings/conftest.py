"""Shared fixtures: simulated battles with known ratings (the LLMFAO data is ``sample_data`` in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ratings.data import Battles


def simulate_battles(strengths: NDArray[np.float64], n_battles: int, rng: np.random.Generator, *,
                     tie_rate: float = 0.0, pair_weights: NDArray[np.float64] | None = None) -> Battles:
    """Battles from Bradley–Terry with the given natural-log strengths.

    A battle is a tie with probability ``tie_rate``; otherwise A wins with probability
    ``σ(r_a - r_b)``. Random ties pull ties-as-half estimates towards 0, so tests that recover
    the true strengths use ``tie_rate=0``.
    """
    n = len(strengths)
    popularity = np.ones(n) if pair_weights is None else pair_weights
    a = rng.choice(n, size=n_battles, p=popularity / popularity.sum())
    b = (a + rng.integers(1, n, size=n_battles)) % n
    p_a = 1.0 / (1.0 + np.exp(strengths[b] - strengths[a]))
    outcome = np.where(rng.random(n_battles) < p_a, 0, 1)
    outcome[rng.random(n_battles) < tie_rate] = 2
    return Battles(a.astype(np.int64), b.astype(np.int64), outcome.astype(np.int8), [f"m{i}" for i in range(n)])
