"""Style control: contextual Bradley–Terry with per-battle style features, fitted jointly.

``P(A beats B) = σ(r_A - r_B + βᵀx)`` with ``x`` the standardised style differences of the two
answers (see :mod:`ratings.style`), ties counting half. The strengths ``r`` are then the ratings
with style held equal; ``β`` says how much each feature moves a vote. Features vary per battle, so
this fit works on battles rather than on pair counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, log_expit

from ratings.data import Battles
from ratings.diagnostics import DEFAULT_RIDGE
from ratings.intervals import BootstrapResult, sandwich_from_parts
from ratings.newton import newton_minimize
from ratings.outcomes import SCORE_A
from ratings.style import BLOCK, normalised_differences, standardised, style_scaling


@dataclass(frozen=True)
class StyleData:
    """Per-battle arrays for the style-controlled fit.

    The features are not stored as one array: :meth:`blocks` standardises the raw counts block by
    block (:data:`ratings.style.BLOCK` battles at a time) with the mean and spread of the whole data,
    so a pass over millions of battles holds only the counts (any numeric type: the refresh reads
    them as float32, exact for counts below 2**24) and one block of temporaries. Data of one block
    keeps its features, computed once. ``weight`` ``None`` means one per battle.
    """

    model_a: NDArray[np.int64]
    model_b: NDArray[np.int64]
    outcome: NDArray[np.int8]
    weight: NDArray[np.float64] | None
    style_a: NDArray[Any]
    style_b: NDArray[Any]
    center: NDArray[np.float64]
    scale: NDArray[np.float64]
    n_models: int
    frequency: NDArray[np.float64] | None = None
    cached: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self.model_a)

    @property
    def n_features(self) -> int:
        return len(self.center)

    @property
    def score(self) -> NDArray[np.float64]:
        """Model A's score per battle, ties as half."""
        return SCORE_A[self.outcome]

    def features(self, lo: int = 0, hi: int | None = None) -> NDArray[np.float64]:
        """The standardised style differences of battles ``lo:hi``."""
        if self.cached is not None:
            return self.cached[lo:hi]
        return standardised(normalised_differences(self.style_a[lo:hi], self.style_b[lo:hi]), self.center, self.scale)

    def blocks(self, weight: NDArray[np.float64] | None = None) -> Iterator[Block]:
        """The battles block by block, with ``weight`` (by default the data's) per battle."""
        w_all = self.weight if weight is None else weight
        for lo in range(0, len(self), BLOCK):
            hi = min(lo + BLOCK, len(self))
            w = np.ones(hi - lo) if w_all is None else w_all[lo:hi]
            yield Block(self.model_a[lo:hi], self.model_b[lo:hi], self.features(lo, hi), SCORE_A[self.outcome[lo:hi]], w)


@dataclass(frozen=True)
class Block:
    """One block of battles: models, standardised features, model A's score and weights."""

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    w: NDArray[np.float64]


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
    weight = None
    if battles.counts is not None or battles.weights is not None:
        weight = battles.frequencies() * (battles.weights if battles.weights is not None else 1.0)
    center, scale = style_scaling(battles.style_a, battles.style_b)
    data = StyleData(battles.model_a, battles.model_b, battles.outcome, weight, battles.style_a, battles.style_b,
                     center, scale, battles.n_models, battles.counts)
    return replace(data, cached=data.features()) if len(data) <= BLOCK else data


def style_objective(params: NDArray[np.float64], data: StyleData, ridge: float = 0.0,
                    weight: NDArray[np.float64] | None = None
                    ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Negative log-likelihood (ties as half), gradient and Hessian over ``(r, β)``, summed block by block.

    A ridge applies to the strengths only; the gauge term ``(Σ r)² / 2`` is always added.
    """
    n = data.n_models
    r, beta = params[:n], params[n:]
    value, grad, hess = 0.0, np.zeros(len(params)), np.zeros((len(params), len(params)))
    for block in data.blocks(weight):
        d = r[block.a] - r[block.b] + block.x @ beta
        y = block.y
        value -= float(block.w @ (y * log_expit(d) + (1 - y) * log_expit(-d)))
        p = expit(d)
        grad += _score_sum(block, block.w * (p - y), n)
        hess += _gram(block, block.w * p * (1 - p), n)
    shift = float(r.sum())
    value += 0.5 * ridge * float(r @ r) + 0.5 * shift * shift
    grad[:n] += ridge * r + shift
    hess[:n, :n] += ridge * np.eye(n) + 1.0
    return value, grad, hess


def _score_sum(block: Block, v: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    return np.r_[np.bincount(block.a, v, n) - np.bincount(block.b, v, n), block.x.T @ v]


def _gram(block: Block, v: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    # Σ v·z zᵀ with z = (e_a - e_b, x), built block by block without forming z.
    k = block.x.shape[1]
    a, b, x = block.a, block.b, block.x
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
    n, k = data.n_models, data.n_features
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
    meat = np.zeros_like(hess)
    for block in data.blocks():
        d = fit.strengths[block.a] - fit.strengths[block.b] + block.x @ fit.coefficients
        residual = block.w * (expit(d) - block.y)
        meat += _gram(block, residual * residual, n)
    return sandwich_from_parts(hess, meat, n)


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
    size = len(data)
    start = np.r_[fit.strengths, fit.coefficients]
    out = np.empty((rounds, len(start)))
    # With aggregated rows, resample the battles they stand for; each keeps its row's weight.
    frequency = data.frequency
    weight = np.ones(size) if data.weight is None else data.weight
    per_battle = weight if frequency is None else np.divide(weight, frequency, out=np.zeros(size),
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
