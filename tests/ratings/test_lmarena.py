"""LMArena's method: pair reweighting, its sandwich, the presets and how the page describes a method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ratings.aggregate import aggregate
from ratings.data import Battles, battles_from_records
from ratings.leaderboard import METHODS, compute_leaderboard, describe_method
from ratings.lmarena import HESSIAN_REG, hessian_regularisation, pair_counts, pair_weights, reweight_battles
from tests.ratings.conftest import simulate_battles


def hand_made() -> Battles:
    # A–B: 3 battles, both orientations, a tie among them; A–C: 1 "both bad"; B–C: one row standing for 60 battles,
    # another for 20 more.
    records = [
        {"model_a": "A", "model_b": "B", "winner": "model_a"},
        {"model_a": "B", "model_b": "A", "winner": "model_a"},
        {"model_a": "A", "model_b": "B", "winner": "tie"},
        {"model_a": "C", "model_b": "A", "winner": "tie (bothbad)"},
        {"model_a": "B", "model_b": "C", "winner": "model_a", "count": 60},
        {"model_a": "C", "model_b": "B", "winner": "model_a", "count": 20},
    ]
    battles, problems = battles_from_records(enumerate(records, start=1))
    assert problems == []
    return battles


def test_each_battle_counts_the_battles_of_its_unordered_pair_whatever_the_outcome() -> None:
    battles = hand_made()
    np.testing.assert_array_equal(pair_counts(battles), [3, 3, 3, 1, 80, 80])
    np.testing.assert_allclose(pair_weights(battles), [1 / 50, 1 / 50, 1 / 50, 1 / 50, 1 / 80, 1 / 80], rtol=1e-15)
    np.testing.assert_allclose(pair_weights(battles, min_pair_count=2), [1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 80, 1 / 80])


def test_reweighting_multiplies_the_weights_a_battle_already_carries() -> None:
    battles = hand_made()
    assert reweight_battles(battles, "none") is battles
    weighted = Battles(battles.model_a, battles.model_b, battles.outcome, battles.names,
                       weights=np.array([2.0, 1.0, 1.0, 3.0, 1.0, 0.5]), counts=battles.counts)
    again = reweight_battles(weighted, "pairs")
    assert again.weights is not None
    np.testing.assert_allclose(again.weights, [2 / 50, 1 / 50, 1 / 50, 3 / 50, 1 / 80, 0.5 / 80])
    # Per pair, the total weight is battles / max(battles, 50): the B–C pair weighs 1, the rare ones less.
    pairs = aggregate(reweight_battles(battles, "pairs"))
    np.testing.assert_allclose(pairs.weights.sum(axis=1), [3 / 50, 1 / 50, 1.0])
    np.testing.assert_allclose(pairs.counts.sum(axis=1), [3, 1, 80])


def test_arena_ranks_hessian_term_scales_with_the_battles_only_without_weights() -> None:
    battles = hand_made()
    assert hessian_regularisation(battles) == pytest.approx(HESSIAN_REG * 84)
    assert hessian_regularisation(reweight_battles(battles, "pairs")) == HESSIAN_REG


@pytest.fixture
def sparse_battles() -> Battles:
    rng = np.random.default_rng(3)
    popularity = np.r_[np.full(2, 30.0), np.ones(6)]  # two popular models meet far more often
    return simulate_battles(rng.normal(0, 0.8, 8), 3000, rng, tie_rate=0.2, pair_weights=popularity)


def test_the_weighted_fit_is_the_exact_fit_on_pair_weights(sparse_battles: Battles) -> None:
    board = compute_leaderboard(sparse_battles, ci="none", reweight="pairs")
    by_hand = Battles(sparse_battles.model_a, sparse_battles.model_b, sparse_battles.outcome, sparse_battles.names,
                      weights=pair_weights(sparse_battles))
    reference = compute_leaderboard(by_hand, ci="none")
    assert [r.model for r in board.rows] == [r.model for r in reference.rows]
    assert [r.rating for r in board.rows] == pytest.approx([r.rating for r in reference.rows], abs=1e-9)
    plain = compute_leaderboard(sparse_battles, ci="none")
    assert max(abs(a.rating - b.rating) for a, b in zip(sorted(board.rows, key=lambda r: r.model),
                                                        sorted(plain.rows, key=lambda r: r.model), strict=True)) > 1
    # The counts shown are battles, not weights.
    assert sum(r.battles for r in board.rows) == 2 * sparse_battles.n_battles


def test_reweight_none_changes_nothing(sparse_battles: Battles) -> None:
    default = compute_leaderboard(sparse_battles, ci="sandwich")
    explicit = compute_leaderboard(sparse_battles, ci="sandwich", reweight="none")
    assert default.rows == explicit.rows and explicit.metadata.reweight == "none"


def test_bootstrap_with_pair_weights_is_seeded_and_close_to_the_sandwich(sparse_battles: Battles) -> None:
    boot = compute_leaderboard(sparse_battles, ci="bootstrap", reweight="pairs", rounds=200, seed=1)
    again = compute_leaderboard(sparse_battles, ci="bootstrap", reweight="pairs", rounds=200, seed=1)
    sandwich = compute_leaderboard(sparse_battles, **METHODS["lmarena"])
    assert boot.rows == again.rows and boot.metadata.reweight == "pairs" and boot.metadata.rounds == 200
    width = {r.model: r.upper - r.lower for r in sandwich.rows}
    for row in boot.rows:
        assert row.lower < row.rating < row.upper
        assert 0.7 < (row.upper - row.lower) / width[row.model] < 1.4


def test_the_other_models_take_the_weights_too(sparse_battles: Battles) -> None:
    davidson = compute_leaderboard(sparse_battles, ci="sandwich", reweight="pairs", tie_model="davidson")
    plain = compute_leaderboard(sparse_battles, ci="sandwich", tie_model="davidson")
    assert davidson.metadata.reweight == "pairs" and davidson.rows != plain.rows
    rng = np.random.default_rng(4)
    n = len(sparse_battles)
    styled = Battles(sparse_battles.model_a, sparse_battles.model_b, sparse_battles.outcome, sparse_battles.names,
                     style_a=rng.poisson([300, 2, 4, 3], size=(n, 4)).astype(float),
                     style_b=rng.poisson([300, 2, 4, 3], size=(n, 4)).astype(float))
    style = compute_leaderboard(styled, style_control=True, reweight="pairs", ci="sandwich")
    unweighted = compute_leaderboard(styled, style_control=True, ci="sandwich")
    assert style.metadata.reweight == "pairs" and style.metadata.style_control
    assert {r.model: r.rating for r in style.rows} != pytest.approx({r.model: r.rating for r in unweighted.rows})


@pytest.mark.parametrize("value", ["pair", "Pairs", "", None, 1])
def test_an_unknown_reweighting_is_refused_with_the_valid_ones(sparse_battles: Battles, value: object) -> None:
    with pytest.raises(ValueError, match=r"reweight must be one of none, pairs"):
        compute_leaderboard(sparse_battles, ci="none", reweight=value)  # type: ignore[arg-type]


def test_the_presets_are_exactly_the_documented_ones() -> None:
    assert METHODS == {"bootstrap": {"ci": "bootstrap", "reweight": "none"},
                       "lmarena": {"ci": "sandwich", "reweight": "pairs"}}


def test_the_metadata_carries_the_reweighting_through_json(sparse_battles: Battles) -> None:
    board = compute_leaderboard(sparse_battles, **METHODS["lmarena"], anchor=("m0", 1200.0))
    stored = json.loads(json.dumps(board.to_dict()))["metadata"]
    assert stored["reweight"] == "pairs" and stored["ci"] == "sandwich" and stored["rounds"] == 0
    anchored = next(r for r in board.rows if r.model == "m0")
    assert anchored.rating == anchored.lower == anchored.upper == pytest.approx(1200.0)
    text = describe_method(stored)
    assert text == ("95% sandwich (CLT) intervals, battles weighted by 1/max(pair count, 50) as LMArena has done "
                    "since July 2025.")
    assert describe_method(json.loads(json.dumps(compute_leaderboard(sparse_battles, rounds=20).to_dict()))["metadata"]) \
        == ("95% intervals from 20 bootstrap rounds (percentiles of refits on battles resampled with replacement), "
            "every battle weighing the same.")


def test_old_metadata_without_a_reweighting_is_described_as_unweighted() -> None:
    old_bootstrap = {"method": "bradley_terry", "ci": "bootstrap", "rounds": 1000, "seed": 0, "notes": []}
    assert describe_method(old_bootstrap).startswith("95% intervals from 1000 bootstrap rounds")
    assert "every battle weighing the same" in describe_method(old_bootstrap)
    assert describe_method({"ci": "sandwich", "rounds": 0}) == "95% sandwich (CLT) intervals, every battle weighing the same."
    assert describe_method({"notes": []}) == ("95% bootstrap intervals (percentiles of refits on battles resampled with "
                                              "replacement), every battle weighing the same.")
    assert describe_method({"ci": "none"}) == "No confidence intervals were computed."
    assert "each resampled battle keeping its weight" in describe_method({"ci": "bootstrap", "rounds": 5,
                                                                          "reweight": "pairs"})
