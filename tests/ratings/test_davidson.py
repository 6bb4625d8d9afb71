import numpy as np
import pytest
from scipy.optimize import check_grad, minimize

from ratings.aggregate import aggregate
from ratings.data import Battles
from ratings.davidson import davidson_objective, fit_davidson, sandwich_davidson
from ratings.leaderboard import compute_leaderboard


def simulate_davidson(strengths, log_tie, n_battles, rng):
    n = len(strengths)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    u = 0.5 * (strengths[a] - strengths[b])
    weights = np.stack([np.exp(u), np.exp(-u), np.full(n_battles, np.exp(log_tie))], axis=1)
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    outcome = (rng.random(n_battles)[:, None] > cumulative).sum(axis=1)
    return Battles(a, b, outcome.astype(np.int8), [f"m{i}" for i in range(n)])


@pytest.fixture
def battles():
    rng = np.random.default_rng(21)
    return simulate_davidson(rng.normal(0, 0.8, 7), 0.2, 4000, rng)


def test_the_davidson_gradient_and_hessian_match_finite_differences(battles):
    pairs = aggregate(battles)
    x = np.random.default_rng(0).normal(size=battles.n_models + 1)
    _, grad, hess = davidson_objective(x, pairs.weights, pairs, 0.1)
    error = check_grad(lambda p: davidson_objective(p, pairs.weights, pairs, 0.1)[0],
                       lambda p: davidson_objective(p, pairs.weights, pairs, 0.1)[1], x)
    assert error < 1e-5 * np.linalg.norm(grad)
    for i in range(len(x)):
        error = check_grad(lambda p, i=i: davidson_objective(p, pairs.weights, pairs, 0.1)[1][i],
                           lambda p, i=i: davidson_objective(p, pairs.weights, pairs, 0.1)[2][i], x)
        assert error < 1e-5 * np.linalg.norm(hess[i])


def test_the_davidson_fit_equals_a_generic_solver(battles):
    a, b, o = battles.model_a, battles.model_b, battles.outcome

    def loss(params):
        r, theta = np.r_[0.0, params[:-1]], params[-1]
        u = 0.5 * (r[a] - r[b])
        log_z = np.logaddexp(np.logaddexp(u, -u), theta)
        chosen = np.where(o == 0, u, np.where(o == 1, -u, theta))
        return -np.sum(chosen - log_z)

    generic = minimize(loss, np.zeros(battles.n_models), method="BFGS",
                       options={"gtol": 1e-8})
    fit = fit_davidson(aggregate(battles))
    reference = np.r_[0.0, generic.x[:-1]]
    np.testing.assert_allclose(fit.strengths, reference - reference.mean(), atol=1e-5)
    assert fit.log_tie == pytest.approx(generic.x[-1], abs=1e-5)


def test_it_recovers_a_known_tie_parameter_and_strengths():
    rng = np.random.default_rng(22)
    truth = rng.normal(0, 0.8, 6)
    truth -= truth.mean()
    fit = fit_davidson(aggregate(simulate_davidson(truth, 0.4, 100_000, rng)))
    assert fit.log_tie == pytest.approx(0.4, abs=0.03)
    np.testing.assert_allclose(fit.strengths, truth, atol=0.04)


def test_davidson_sandwich_intervals_are_close_to_the_bootstrap(battles):
    pairs = aggregate(battles)
    fit = fit_davidson(pairs)
    sandwich = np.sqrt(np.diag(sandwich_davidson(pairs, fit)))
    board = compute_leaderboard(battles, tie_model="davidson", rounds=300, seed=3, elo_k=None)
    widths = {row.model: row.upper - row.lower for row in board.rows}
    for i, name in enumerate(battles.names):
        assert widths[name] == pytest.approx(2 * 1.96 * sandwich[i] * 400 / np.log(10), rel=0.2)
    assert board.parameters[0].name == "log_tie_parameter"
    assert board.parameters[0].lower < fit.log_tie < board.parameters[0].upper
