import numpy as np
import pytest
from scipy.optimize import check_grad, minimize

from ratings.aggregate import aggregate, pair_totals
from ratings.bradley_terry import ELO_PER_NAT, bt_objective, fit_bradley_terry, fit_bradley_terry_batch
from ratings.data import Battles
from tests.ratings.conftest import simulate_battles


@pytest.fixture
def battles() -> Battles:
    rng = np.random.default_rng(7)
    return simulate_battles(rng.normal(0, 0.8, 12), 3000, rng, tie_rate=0.25)


def test_the_gradient_matches_finite_differences(battles):
    pairs = aggregate(battles)
    rng = np.random.default_rng(1)
    for ridge in (0.0, 0.5):
        x = rng.normal(size=battles.n_models)
        error = check_grad(lambda r, lam=ridge: bt_objective(r, pairs, lam)[0],
                           lambda r, lam=ridge: bt_objective(r, pairs, lam)[1], x)
        assert error < 1e-5 * np.linalg.norm(bt_objective(x, pairs, ridge)[1])


def test_the_hessian_matches_finite_differences_of_the_gradient(battles):
    pairs = aggregate(battles)
    x = np.random.default_rng(2).normal(size=battles.n_models)
    for i in range(battles.n_models):
        error = check_grad(lambda r, i=i: bt_objective(r, pairs)[1][i], lambda r, i=i: bt_objective(r, pairs)[2][i], x)
        assert error < 1e-5 * np.linalg.norm(bt_objective(x, pairs)[2][i])


def test_the_fit_equals_a_generic_solver_on_the_per_battle_likelihood(battles):
    # An independent formulation: battle by battle, no aggregation, first model's strength fixed at 0.
    a, b = battles.model_a, battles.model_b
    y = np.array([1.0, 0.0, 0.5, 0.5])[battles.outcome]

    def loss(free):
        r = np.r_[0.0, free]
        d = r[a] - r[b]
        residual = 1 / (1 + np.exp(-d)) - y
        grad = np.zeros_like(r)
        np.add.at(grad, a, residual)
        np.add.at(grad, b, -residual)
        return np.sum(np.logaddexp(0, -d) * y + np.logaddexp(0, d) * (1 - y)), grad[1:]

    generic = minimize(loss, np.zeros(battles.n_models - 1), jac=True, method="BFGS", options={"gtol": 1e-9})
    assert np.abs(loss(generic.x)[1]).max() < 1e-6
    reference = np.r_[0.0, generic.x]
    fit = fit_bradley_terry(aggregate(battles))
    assert fit.converged
    np.testing.assert_allclose(ELO_PER_NAT * fit.strengths, ELO_PER_NAT * (reference - reference.mean()), atol=1e-6)


def test_it_recovers_known_ratings_from_many_simulated_battles():
    rng = np.random.default_rng(3)
    truth = rng.normal(0, 1, 8)
    truth -= truth.mean()
    fit = fit_bradley_terry(aggregate(simulate_battles(truth, 200_000, rng)))
    np.testing.assert_allclose(fit.strengths, truth, atol=0.03)


def test_swapping_sides_does_not_change_the_ratings(battles):
    swapped_outcome = battles.outcome.copy()
    swapped_outcome[battles.outcome == 0] = 1
    swapped_outcome[battles.outcome == 1] = 0
    swapped = Battles(battles.model_b, battles.model_a, swapped_outcome, battles.names)
    np.testing.assert_allclose(fit_bradley_terry(aggregate(swapped)).strengths,
                               fit_bradley_terry(aggregate(battles)).strengths, atol=1e-12)


def test_integer_weights_act_like_repeated_battles(battles):
    repeats = np.random.default_rng(4).integers(1, 4, len(battles))
    weighted = Battles(battles.model_a, battles.model_b, battles.outcome, battles.names, weights=repeats * 1.0)
    index = np.repeat(np.arange(len(battles)), repeats)
    repeated = Battles(battles.model_a[index], battles.model_b[index], battles.outcome[index], battles.names)
    np.testing.assert_allclose(fit_bradley_terry(aggregate(weighted)).strengths,
                               fit_bradley_terry(aggregate(repeated)).strengths, atol=1e-12)


def test_the_batch_fit_equals_separate_fits_of_each_replicate(battles):
    pairs = aggregate(battles)
    full = fit_bradley_terry(pairs)
    rng = np.random.default_rng(5)
    cells = rng.poisson(pairs.counts, size=(4, *pairs.counts.shape)).astype(float)
    fit = fit_bradley_terry_batch(pairs, cells.sum(axis=2), cells @ np.array([1, 0, 0.5]), full.strengths)
    assert len(fit.unconverged) == 0
    batch = fit.strengths
    for k in range(4):
        single = fit_bradley_terry(pairs.with_weights(cells[k]))
        np.testing.assert_allclose(batch[k], single.strengths, atol=1e-9)


def test_the_batch_fit_converges_from_a_start_far_from_the_optimum(battles):
    pairs = aggregate(battles)
    totals, scores = pair_totals(pairs)
    far = np.linspace(-3, 3, battles.n_models)
    fit = fit_bradley_terry_batch(pairs, totals[None], scores[None], far - far.mean())
    assert len(fit.unconverged) == 0
    np.testing.assert_allclose(fit.strengths[0], fit_bradley_terry(pairs).strengths, atol=1e-9)


def test_the_batch_fit_is_exact_even_for_replicates_unlike_the_starting_data(battles):
    pairs = aggregate(battles)
    full = fit_bradley_terry(pairs)
    flipped = pairs.counts[:, [1, 0, 2]]  # every result reversed: the ratings flip sign
    lopsided = pairs.counts * np.where(np.arange(pairs.n_pairs) % 7 == 0, 50.0, 0.2)[:, None]
    cells = np.stack([flipped, lopsided])
    fit = fit_bradley_terry_batch(pairs, cells.sum(axis=2), cells @ np.array([1, 0, 0.5]), full.strengths)
    assert len(fit.unconverged) == 0
    batch = fit.strengths
    np.testing.assert_allclose(batch[0], -full.strengths, atol=1e-9)
    np.testing.assert_allclose(batch[1], fit_bradley_terry(pairs.with_weights(lopsided)).strengths, atol=1e-9)
