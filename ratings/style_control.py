"""Style control: contextual Bradley–Terry with per-battle style features, fitted jointly.

``P(A beats B) = σ(r_A - r_B + βᵀx)`` with ``x`` the standardised style differences of the two
answers (see :mod:`ratings.style`), ties counting half. The strengths ``r`` are then the ratings
with style held equal; ``β`` says how much each feature moves a vote. Features vary per battle, so
this fit works on battles rather than on pair counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, log_expit

from ratings.data import Battles
from ratings.diagnostics import DEFAULT_RIDGE
from ratings.intervals import BootstrapResult, sandwich_from_parts
from ratings.newton import newton_minimize
from ratings.outcomes import SCORE_A
from ratings.style import style_differences


@dataclass(frozen=True)
class StyleData:
    """Per-battle arrays for the style-controlled fit."""

    model_a: NDArray[np.int64]
    model_b: NDArray[np.int64]
    score: NDArray[np.float64]
    weight: NDArray[np.float64]
    features: NDArray[np.float64]
    n_models: int
    frequency: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class StyleFit:
    """Controlled strengths (natural-log units, summing to zero) and the feature coefficients."""

    strengths: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    neg_log_likelihood: float
    iterations: int
    converged: bool
    ridge: float


def style_data(battles: Battles) -> StyleData:
    """Prepare battles that carry style counts for :func:`fit_style_control`."""
    if battles.style_a is None or battles.style_b is None:
        raise ValueError("these battles carry no style features")
    weights = battles.frequencies() * (battles.weights if battles.weights is not None else 1.0)
    return StyleData(battles.model_a, battles.model_b, SCORE_A[battles.outcome], weights,
                     style_differences(battles.style_a, battles.style_b), battles.n_models, battles.counts)


def style_objective(params: NDArray[np.float64], data: StyleData, ridge: float = 0.0,
                    weight: NDArray[np.float64] | None = None
                    ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Negative log-likelihood (ties as half), gradient and Hessian over ``(r, β)``.

    A ridge applies to the strengths only; the gauge term ``(Σ r)² / 2`` is always added.
    """
    n = data.n_models
    w = data.weight if weight is None else weight
    r, beta = params[:n], params[n:]
    d = r[data.model_a] - r[data.model_b] + data.features @ beta
    y = data.score
    value = -float(w @ (y * log_expit(d) + (1 - y) * log_expit(-d)))
    p = expit(d)
    grad = _score_sum(data, w * (p - y))
    hess = _gram(data, w * p * (1 - p))
    shift = float(r.sum())
    value += 0.5 * ridge * float(r @ r) + 0.5 * shift * shift
    grad[:n] += ridge * r + shift
    hess[:n, :n] += ridge * np.eye(n) + 1.0
    return value, grad, hess


def _score_sum(data: StyleData, v: NDArray[np.float64]) -> NDArray[np.float64]:
    n = data.n_models
    return np.r_[np.bincount(data.model_a, v, n) - np.bincount(data.model_b, v, n), data.features.T @ v]


def _gram(data: StyleData, v: NDArray[np.float64]) -> NDArray[np.float64]:
    # Σ v·z zᵀ with z = (e_a - e_b, x), built block by block without forming z.
    n, k = data.n_models, data.features.shape[1]
    a, b, x = data.model_a, data.model_b, data.features
    directed = np.bincount(a * n + b, v, n * n).reshape(n, n)
    out = np.zeros((n + k, n + k))
    out[:n, :n] = np.diag(directed.sum(axis=0) + directed.sum(axis=1)) - directed - directed.T
    cross = np.stack([np.bincount(a, v * x[:, f], n) - np.bincount(b, v * x[:, f], n) for f in range(k)], axis=1)
    out[:n, n:] = cross
    out[n:, :n] = cross.T
    out[n:, n:] = (x * v[:, None]).T @ x
    return out


def fit_style_control(data: StyleData, *, ridge: float = 0.0, weight: NDArray[np.float64] | None = None,
                      init: NDArray[np.float64] | None = None, tol: float = 1e-10) -> StyleFit:
    """Fit strengths and style coefficients jointly by Newton's method.

    Parameters
    ----------
    data
        From :func:`style_data`.
    ridge
        Ridge on the strengths, for ill-posed data.
    weight
        Per-battle weights replacing ``data.weight`` (bootstrap replicates).
    init
        Starting ``(r, β)``; zeros by default.
    tol
        Convergence threshold on the largest Newton step.

    Returns
    -------
    StyleFit
    """
    n, k = data.n_models, data.features.shape[1]
    x0 = np.zeros(n + k) if init is None else init
    result = newton_minimize(lambda x: style_objective(x, data, ridge, weight), x0, tol=tol)
    strengths = result.x[:n] - result.x[:n].mean()
    return StyleFit(strengths, result.x[n:], result.fun, result.iterations, result.converged, ridge)


def sandwich_style_control(data: StyleData, fit: StyleFit) -> NDArray[np.float64]:
    """Sandwich covariance of ``(r, β)``, strengths in the sum-to-zero gauge."""
    n = data.n_models
    params = np.r_[fit.strengths, fit.coefficients]
    _, _, hess = style_objective(params, data, fit.ridge)
    hess[:n, :n] -= 1.0
    d = fit.strengths[data.model_a] - fit.strengths[data.model_b] + data.features @ fit.coefficients
    residual = data.weight * (expit(d) - data.score)
    return sandwich_from_parts(hess, _gram(data, residual * residual), n)


def bootstrap_style_control(data: StyleData, fit: StyleFit, *, rounds: int, seed: int,
                            progress: Callable[[int, int], None] | None = None) -> BootstrapResult:
    """Bootstrap ``(r, β)`` by resampling battles with replacement, warm-started from ``fit``.

    Replicates in which a model never lost or never won get :data:`ratings.diagnostics.DEFAULT_RIDGE`
    when the full fit had none.

    Returns
    -------
    BootstrapResult
        Samples of shape ``(rounds, n_models + n_features)``.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    size = len(data.model_a)
    start = np.r_[fit.strengths, fit.coefficients]
    out = np.empty((rounds, len(start)))
    # With aggregated rows, resample the battles they stand for; each keeps its row's weight.
    frequency = data.frequency
    per_battle = data.weight if frequency is None else np.divide(data.weight, frequency, out=np.zeros(size),
                                                                 where=frequency > 0)
    ridged = unconverged = 0
    for i in range(rounds):
        if frequency is None:
            draws = np.bincount(rng.integers(0, size, size), minlength=size)
        else:
            draws = rng.multinomial(round(float(frequency.sum())), frequency / frequency.sum())
        ridge = fit.ridge
        if ridge == 0 and _unbounded(data, draws):
            ridge, ridged = DEFAULT_RIDGE, ridged + 1
        refit = fit_style_control(data, ridge=ridge, weight=per_battle * draws, init=start, tol=1e-8)
        unconverged += not refit.converged
        out[i] = np.r_[refit.strengths, refit.coefficients]
        if progress is not None:
            progress(i + 1, rounds)
    return BootstrapResult(out, unconverged, ridged)


def _unbounded(data: StyleData, draws: NDArray[np.int64]) -> bool:
    n, a, b = data.n_models, data.model_a, data.model_b
    a_scored = draws * (data.score > 0)
    b_scored = draws * (data.score < 1)
    scored = np.bincount(a, a_scored, n) + np.bincount(b, b_scored, n)
    conceded = np.bincount(a, b_scored, n) + np.bincount(b, a_scored, n)
    games = np.bincount(a, draws, n) + np.bincount(b, draws, n)
    return bool(np.any((games > 0) & ((scored == 0) | (conceded == 0))))
