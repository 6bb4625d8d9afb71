import numpy as np
import pytest

from ratings.aggregate import aggregate
from ratings.bradley_terry import fit_bradley_terry
from ratings.intervals import (
    bootstrap_bradley_terry,
    normal_intervals,
    percentile_intervals,
    rank_upper_bound,
    resample_cells,
    sandwich_bradley_terry,
)
from tests.ratings.conftest import simulate_battles


@pytest.fixture
def pairs():
    rng = np.random.default_rng(11)
    return aggregate(simulate_battles(rng.normal(0, 0.7, 10), 5000, rng, tie_rate=0.2))


def test_the_bootstrap_is_bit_for_bit_reproducible_with_the_same_seed(pairs):
    fit = fit_bradley_terry(pairs)
    first = bootstrap_bradley_terry(pairs, fit.strengths, rounds=120, seed=42)
    again = bootstrap_bradley_terry(pairs, fit.strengths, rounds=120, seed=42, workers=3)
    other = bootstrap_bradley_terry(pairs, fit.strengths, rounds=120, seed=43)
    assert np.array_equal(first.samples, again.samples)
    assert not np.array_equal(first.samples, other.samples)


def test_resampled_cells_keep_the_number_of_battles_and_only_observed_cells(pairs):
    cells = resample_cells(pairs, 50, np.random.default_rng(0))
    np.testing.assert_allclose(cells.sum(axis=(1, 2)), pairs.n_battles)
    assert np.all(cells[:, pairs.counts == 0] == 0)
    np.testing.assert_allclose(cells.mean(axis=0), pairs.counts, rtol=0.25, atol=3)


def test_sandwich_and_bootstrap_widths_agree_within_15_percent_on_well_posed_data(pairs):
    fit = fit_bradley_terry(pairs)
    samples = bootstrap_bradley_terry(pairs, fit.strengths, rounds=1000, seed=0).samples
    boot_lower, boot_upper = percentile_intervals(samples)
    sand_lower, sand_upper = normal_intervals(fit.strengths, sandwich_bradley_terry(pairs, fit.strengths))
    ratio = (sand_upper - sand_lower) / (boot_upper - boot_lower)
    assert np.all(np.abs(ratio - 1) < 0.15)


def test_the_sandwich_equals_the_inverse_information_when_there_are_no_ties():
    # Without ties a battle's squared score (y - p)² has expectation p(1 - p), its Fisher information,
    # so under a correct model the sandwich is close to the inverse information.
    rng = np.random.default_rng(12)
    pairs = aggregate(simulate_battles(rng.normal(0, 0.5, 6), 4000, rng))
    fit = fit_bradley_terry(pairs)
    sandwich = sandwich_bradley_terry(pairs, fit.strengths)
    hess = fit.hessian
    inverse_information = np.linalg.pinv(hess)
    assert np.all(np.diag(sandwich) > 0)
    np.testing.assert_allclose(np.diag(sandwich), np.diag(inverse_information), rtol=0.1)


def test_95_percent_intervals_cover_the_true_ratings_about_95_percent_of_the_time():
    rng = np.random.default_rng(2024)
    truth = rng.normal(0, 0.6, 8)
    truth -= truth.mean()
    covered_boot, covered_sand, total = 0, 0, 0
    for _ in range(100):
        pairs = aggregate(simulate_battles(truth, 1500, rng))
        fit = fit_bradley_terry(pairs)
        samples = bootstrap_bradley_terry(pairs, fit.strengths, rounds=200, seed=int(rng.integers(1 << 30))).samples
        lower, upper = percentile_intervals(samples)
        covered_boot += int(np.sum((lower <= truth) & (truth <= upper)))
        lower, upper = normal_intervals(fit.strengths, sandwich_bradley_terry(pairs, fit.strengths))
        covered_sand += int(np.sum((lower <= truth) & (truth <= upper)))
        total += len(truth)
    assert 0.925 <= covered_boot / total <= 0.975
    assert 0.925 <= covered_sand / total <= 0.975


def test_rank_ub_counts_the_models_that_are_clearly_better():
    lower = np.array([10.0, 8.0, 3.0, 2.5, -5.0])
    upper = np.array([12.0, 11.0, 9.0, 5.0, 2.6])
    # Model 2's upper bound 9 is below model 0's lower bound 10 only; model 4 is below 0, 1 and 2.
    assert rank_upper_bound(lower, upper).tolist() == [1, 1, 2, 3, 4]


def test_progress_is_reported_up_to_the_number_of_rounds(pairs):
    fit = fit_bradley_terry(pairs)
    seen = []
    bootstrap_bradley_terry(pairs, fit.strengths, rounds=120, seed=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (120, 120)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_scaling_all_weights_leaves_the_sandwich_unchanged(pairs):
    # Weights are relative importances: doubling every weight doubles H and quadruples J.
    fit = fit_bradley_terry(pairs)
    scaled = type(pairs)(pairs.n_models, pairs.first, pairs.second, pairs.counts, 2 * pairs.weights,
                         4 * pairs.weights_sq)
    np.testing.assert_allclose(fit_bradley_terry(scaled).strengths, fit.strengths, atol=1e-10)
    np.testing.assert_allclose(sandwich_bradley_terry(scaled, fit.strengths),
                               sandwich_bradley_terry(pairs, fit.strengths), rtol=1e-10, atol=1e-14)
