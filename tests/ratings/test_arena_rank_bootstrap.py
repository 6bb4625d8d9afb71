"""Our bootstrap against arena-rank's on a simulated sparse arena (golden values: bench/arena_rank_golden.py).

The two bootstraps draw different replicates (NumPy against jax.random), so their bounds agree only
up to Monte Carlo noise. They also differ in gauge: arena-rank keeps each replicate's plain mean of
all models at 1000, so in the half of the replicates where some rarely seen model never wins or
never loses, that model runs off and drags every other model's plain bounds (by up to ~20 points
on well-measured models here), where ours are centred on the models rated in every replicate. The
comparison is therefore made where no gauge enters: bounds of each rating minus the most-played
model's, from the same replicates on both sides.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ratings.data import load_battles
from ratings.leaderboard import compute_leaderboard

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"
GOLDEN = REFERENCE / "arena_rank_sparse_bootstrap.csv"
BATTLES = REFERENCE / "sparse_arena_battles.csv"


def _golden() -> tuple[dict[str, dict[str, float]], int, str]:
    rows: dict[str, dict[str, float]] = {}
    rounds, reference = 0, ""
    with GOLDEN.open() as handle:
        lines = handle.read().splitlines()
    for line in lines:
        if line.startswith("#") and "num_bootstrap=" in line:
            rounds = int(line.split("num_bootstrap=")[1].split(",")[0])
        if line.startswith("#") and "reference " in line:
            reference = line.split("reference ")[1].split(",")[0].strip()
    for record in csv.DictReader(line for line in lines if not line.startswith("#")):
        rows[record["model"]] = {k: float(v) for k, v in record.items() if k != "model"}
    return rows, rounds, reference


@pytest.fixture(scope="module")
def boards():
    if not GOLDEN.exists() or not BATTLES.exists():
        pytest.fail(f"golden files missing under {REFERENCE}")
    golden, rounds, reference = _golden()
    battles, problems = load_battles(BATTLES)
    assert not problems
    plain = compute_leaderboard(battles, rounds=1000, seed=0, elo_k=None)
    relative = compute_leaderboard(battles, rounds=1000, seed=0, elo_k=None, anchor=(reference, 0.0))
    return golden, rounds, reference, plain, relative


def test_the_golden_file_is_a_full_1000_round_bootstrap_of_the_same_models(boards):
    golden, rounds, reference, plain, _ = boards
    assert rounds == 1000
    assert set(golden) == {row.model for row in plain.rows}
    most_played = max(plain.rows, key=lambda row: row.battles)
    assert reference == most_played.model


def test_ratings_match_arena_rank_exactly(boards):
    golden, _, _, plain, _ = boards
    assert max(abs(row.rating - golden[row.model]["rating"]) for row in plain.rows) < 1e-3


def test_bounds_relative_to_the_most_played_model_agree_with_arena_rank_on_well_measured_models(boards):
    golden, _, reference, plain, relative = boards
    # Some replicates leave rare models out (unbounded there): both engines see the same sparse data.
    assert plain.metadata.bootstrap_partial > 100
    well_measured = [row for row in relative.rows if row.battles >= 300 and row.model != reference]
    assert len(well_measured) >= 15
    ratios = []
    for row in well_measured:
        theirs = golden[row.model]
        width = theirs["upper_vs_reference"] - theirs["lower_vs_reference"]
        # Monte Carlo noise of a 2.5% quantile from 1000 replicates: about 7% of the interval's width.
        assert abs(row.lower - theirs["lower_vs_reference"]) < 0.12 * width + 1.0, row.model
        assert abs(row.upper - theirs["upper_vs_reference"]) < 0.12 * width + 1.0, row.model
        ratios.append((row.upper - row.lower) / width)
    # No systematic widening or narrowing.
    assert 0.93 < float(np.median(ratios)) < 1.07
