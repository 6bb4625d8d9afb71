"""The Davidson (1970) tie model: ties are an outcome of their own, with a fitted tie parameter.

``P(i beats j) = π_i / Z``, ``P(j beats i) = π_j / Z``, ``P(tie) = ν·sqrt(π_i π_j) / Z`` with
``π = exp(r)`` and ``Z`` the sum of the three. Dividing through by ``sqrt(π_i π_j)`` gives, with
``u = (r_i - r_j) / 2``, the three probabilities ``e^u / Z'``, ``e^-u / Z'``, ``ν / Z'``. Among
decisive battles ``P(i beats j) = σ(r_i - r_j)``, so strengths are on the same scale as in
ties-as-half Bradley–Terry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from ratings.aggregate import FIRST_WINS, SECOND_WINS, TIES, PairCounts
from ratings.intervals import sandwich_from_parts
from ratings.newton import newton_minimize


@dataclass(frozen=True)
class DavidsonFit:
    """Strengths (natural-log units, summing to zero), ``log ν`` and how the fit went."""

    strengths: NDArray[np.float64]
    log_tie: float
    neg_log_likelihood: float
    iterations: int
    converged: bool
    ridge: float


def davidson_objective(params: NDArray[np.float64], cells: NDArray[np.float64], pairs: PairCounts,
                       ridge: float = 0.0) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Negative log-likelihood, gradient and Hessian of the Davidson model.

    Parameters
    ----------
    params
        ``(r_0, ..., r_{n-1}, log ν)``.
    cells
        Weighted counts per pair, columns (first wins, second wins, tie), shape ``(n_pairs, 3)``.
    pairs
        Supplies the pair structure.
    ridge
        Ridge on the strengths (not on ``log ν``); a gauge term ``(Σ r)² / 2`` is always added.
    """
    n = pairs.n_models
    r, theta = params[:n], params[n]
    probs, u, log_z = _probabilities(r, theta, pairs)
    wins, losses, ties = cells[:, FIRST_WINS], cells[:, SECOND_WINS], cells[:, TIES]
    total = wins + losses + ties
    value = -float(wins @ u - losses @ u + ties.sum() * theta - total @ log_z)
    a, b, c = probs
    f_u = -(wins - losses) + total * (a - b)
    f_t = float(-ties.sum() + total @ c)
    f_uu = total * ((a + b) - (a - b) ** 2)
    f_ut = -total * (a - b) * c
    f_tt = float(total @ (c - c * c))
    grad, hess = _assemble(pairs, 0.5 * f_u, f_t, 0.25 * f_uu, 0.5 * f_ut, f_tt)
    shift = float(r.sum())
    value += 0.5 * ridge * float(r @ r) + 0.5 * shift * shift
    grad[:n] += ridge * r + shift
    hess[:n, :n] += ridge * np.eye(n) + 1.0
    return value, grad, hess


def _probabilities(r: NDArray[np.float64], theta: float, pairs: PairCounts
                   ) -> tuple[tuple[NDArray[np.float64], ...], NDArray[np.float64], NDArray[np.float64]]:
    u = 0.5 * (r[pairs.first] - r[pairs.second])
    logits = np.stack([u, -u, np.full_like(u, theta)])
    log_z = logsumexp(logits, axis=0)
    probs = np.exp(logits - log_z)
    return (probs[0], probs[1], probs[2]), u, log_z


def _assemble(pairs: PairCounts, g_edge: NDArray[np.float64], g_t: float, h_edge: NDArray[np.float64],
              h_cross: NDArray[np.float64], h_tt: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # Edge quantities are derivatives along r_first - r_second; spread them onto both models.
    n, i, j = pairs.n_models, pairs.first, pairs.second
    grad = np.zeros(n + 1)
    grad[:n] = np.bincount(i, g_edge, n) - np.bincount(j, g_edge, n)
    grad[n] = g_t
    hess = np.zeros((n + 1, n + 1))
    hess[i, j] = -h_edge
    hess[j, i] = -h_edge
    hess[np.arange(n), np.arange(n)] = np.bincount(i, h_edge, n) + np.bincount(j, h_edge, n)
    cross = np.bincount(i, h_cross, n) - np.bincount(j, h_cross, n)
    hess[:n, n] = cross
    hess[n, :n] = cross
    hess[n, n] = h_tt
    return grad, hess


def fit_davidson(pairs: PairCounts, *, cells: NDArray[np.float64] | None = None, ridge: float = 0.0,
                 init: NDArray[np.float64] | None = None, tol: float = 1e-11) -> DavidsonFit:
    """Fit the Davidson tie model by maximum likelihood with Newton's method.

    Parameters
    ----------
    pairs
        Aggregated battles.
    cells
        Weighted counts to fit instead of ``pairs.weights`` (bootstrap replicates).
    ridge
        Ridge on the strengths, for ill-posed data.
    init
        Starting ``(r, log ν)``; by default zeros and the log of the observed tie odds.
    tol
        Convergence threshold on the largest Newton step.

    Returns
    -------
    DavidsonFit
    """
    data = pairs.weights if cells is None else cells
    n = pairs.n_models
    if init is None:
        tie_share = (data[:, TIES].sum() + 0.5) / (data.sum() + 1.0)
        init = np.r_[np.zeros(n), np.log(2 * tie_share / (1 - tie_share))]
    result = newton_minimize(lambda x: davidson_objective(x, data, pairs, ridge), init, tol=tol)
    strengths = result.x[:n] - result.x[:n].mean()
    return DavidsonFit(strengths, float(result.x[n]), result.fun, result.iterations, result.converged, ridge)


def sandwich_davidson(pairs: PairCounts, fit: DavidsonFit) -> NDArray[np.float64]:
    """Sandwich covariance of ``(r, log ν)`` for a Davidson fit, strengths in the sum-to-zero gauge."""
    n = pairs.n_models
    params = np.r_[fit.strengths, fit.log_tie]
    _, _, hess = davidson_objective(params, pairs.weights, pairs, fit.ridge)
    hess[:n, :n] -= 1.0
    (a, b, c), _, _ = _probabilities(fit.strengths, fit.log_tie, pairs)
    meat = np.zeros((n + 1, n + 1))
    # One score per outcome column: d(-log P)/du and d(-log P)/dθ for a battle with that outcome.
    for column, (du, dt) in enumerate([(-1 + a - b, c), (1 + a - b, c), (a - b, c - 1)]):
        wsq = pairs.weights_sq[:, column]
        _, part = _assemble(pairs, np.zeros_like(du), 0.0, wsq * 0.25 * du * du, wsq * 0.5 * du * dt,
                            float(wsq @ (dt * dt)))
        meat += part
    return sandwich_from_parts(hess, meat, n)
