"""Agreement with arena-rank, LMArena's own engine, on LMArena's current method (``--method lmarena``).

Golden values: ``data/reference/arena_rank_*_sandwich.csv``, computed by arena-rank 0.1.1
(Apache-2.0) with ``bench/arena_rank_golden.py`` (its docstring has the command) on the LLMFAO
battles (Dmitry Ustalov, CC BY 4.0) and on our simulated sparse arena
(``data/reference/sparse_arena_battles.csv``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ratings.aggregate import aggregate
from ratings.bradley_terry import ELO_PER_NAT, fit_bradley_terry
from ratings.data import Battles, load_battles
from ratings.intervals import Z_95
from ratings.leaderboard import METHODS, compute_leaderboard
from ratings.lmarena import HESSIAN_REG, pair_weights, reweight_battles, sandwich_lmarena

POINTS = 1e-4
CASES = {"llmfao": "llmfao_battles.json", "sparse": "reference/sparse_arena_battles.csv"}


def golden(sample_data: Path, name: str, kind: str = "sandwich") -> tuple[list[str], dict[str, dict[str, float]]]:
    lines = (sample_data / "reference" / f"arena_rank_{name}_{kind}.csv").read_text(encoding="utf-8").splitlines()
    header = [line for line in lines if line.startswith("#")]
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    return header, {row["model"]: {k: float(v) for k, v in row.items() if k != "model"} for row in rows}


def battles_of(sample_data: Path, name: str) -> Battles:
    battles, problems = load_battles(sample_data / CASES[name])
    assert problems == []
    return battles


@pytest.mark.parametrize("name", list(CASES))
def test_the_lmarena_preset_reproduces_arena_rank_ratings_and_intervals(sample_data, name):
    header, reference = golden(sample_data, name)
    assert any("arena-rank 0.1.1" in line and "jax" in line for line in header)
    board = compute_leaderboard(battles_of(sample_data, name), **METHODS["lmarena"], elo_k=None)
    assert board.metadata.ci == "sandwich" and board.metadata.reweight == "pairs" and board.metadata.well_posed
    ours = {row.model: row for row in board.rows}
    assert set(ours) == set(reference)
    for field in ("rating", "lower", "upper"):
        difference = max(abs(getattr(ours[m], field) - reference[m][field]) for m in reference)
        assert difference < POINTS, f"{name} {field}: off by {difference:.3g} points"
    widths = [reference[m]["upper"] - reference[m]["lower"] for m in reference]
    assert min(widths) > 10  # real intervals, not points


def test_the_sparse_arena_is_sparse_and_reweighting_matters_there(sample_data):
    battles = battles_of(sample_data, "sparse")
    assert battles.n_models == 120 and battles.n_battles == 20000 and battles.counts is not None
    weights = pair_weights(battles)
    assert weights.max() == pytest.approx(1 / 50) and weights.min() < 1 / 500  # most pairs rare, a few very common
    plain = {row.model: row.rating for row in compute_leaderboard(battles, ci="none", elo_k=None).rows}
    _, reference = golden(sample_data, "sparse")
    assert max(abs(plain[m] - reference[m]["rating"]) for m in reference) > 5


def test_every_constant_of_the_sandwich_shows_in_the_golden_values(sample_data):
    # Without arena-rank's 1e-5 on the Hessian's diagonal, or with another floor than 50 battles per pair, the
    # intervals of the sparse arena move by far more than the tolerance: the test above checks both constants.
    _, reference = golden(sample_data, "sparse")
    battles = battles_of(sample_data, "sparse")

    def bounds(min_pair_count: float, hessian_reg: float) -> dict[str, float]:
        weighted = Battles(battles.model_a, battles.model_b, battles.outcome, battles.names,
                           weights=pair_weights(battles, min_pair_count), counts=battles.counts)
        pairs = aggregate(weighted)
        strengths = fit_bradley_terry(pairs).strengths
        sd = np.sqrt(np.diag(sandwich_lmarena(pairs, strengths, hessian_reg)))
        return dict(zip(battles.names, ELO_PER_NAT * (strengths - Z_95 * sd) + 1000.0, strict=True))

    def off(lower: dict[str, float]) -> float:
        return max(abs(lower[m] - reference[m]["lower"]) for m in reference)

    assert off(bounds(50, HESSIAN_REG)) < POINTS
    assert off(bounds(50, 0.0)) > 100 * POINTS
    assert off(bounds(50, 2 * HESSIAN_REG)) > 100 * POINTS
    assert off(bounds(40, HESSIAN_REG)) > 100 * POINTS


def test_the_golden_files_record_what_arena_rank_gives_at_its_default_tolerances(sample_data):
    # arena-rank's L-BFGS stops (gtol = ftol = 1e-9) short of the optimum; the golden values use gtol=1e-15, ftol=0.
    for name, most in (("llmfao", 0.05), ("sparse", 1.0)):
        header, reference = golden(sample_data, name)
        assert any("gtol=1e-15, ftol=0" in line for line in header)
        drift = max(abs(r["rating_default_tol"] - r["rating"]) for r in reference.values())
        assert 10 * POINTS < drift < most


def test_the_bootstrap_golden_file_covers_the_sparse_arena(sample_data):
    header, reference = golden(sample_data, "sparse", "bootstrap")
    assert any("num_bootstrap=1000, seed=42" in line for line in header)
    assert set(reference) == set(battles_of(sample_data, "sparse").names)
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in reference.values())
    # Its full-data fit is the unweighted maximum likelihood estimate.
    plain = {row.model: row.rating for row in compute_leaderboard(battles_of(sample_data, "sparse"), ci="none",
                                                                   elo_k=None).rows}
    assert max(abs(plain[m] - r["rating"]) for m, r in reference.items()) < POINTS


def test_reweighting_leaves_aggregated_and_expanded_battles_alike(sample_data):
    battles = battles_of(sample_data, "sparse")
    rows = np.repeat(np.arange(len(battles)), battles.counts.astype(np.int64))
    expanded = Battles(battles.model_a[rows], battles.model_b[rows], battles.outcome[rows], battles.names)
    a, b = reweight_battles(battles, "pairs"), reweight_battles(expanded, "pairs")
    assert a.weights is not None and b.weights is not None
    assert np.allclose(a.weights[rows], b.weights, rtol=0, atol=1e-15)
