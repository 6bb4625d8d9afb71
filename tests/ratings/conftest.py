"""Shared fixtures: simulated battles with known ratings, and the LLMFAO crowd data.

LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com Crowdsourced LLM Benchmark
(CC BY 4.0). The shared data directory is ``$ARENA_SHARED_DATA`` or ``<repo>/../shared/data``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from ratings.data import Battles
from tests.conftest import service_missing

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    configured = os.environ.get("ARENA_SHARED_DATA")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate if (candidate / "llmfao_battles.json").is_file() else None


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        service_missing("shared data not found: set ARENA_SHARED_DATA or place shared/data beside the repository")
    return path


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
