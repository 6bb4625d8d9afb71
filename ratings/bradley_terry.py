"""Bradley–Terry by exact maximum likelihood, ties counting half a win each way.

With strengths ``r`` in natural-log units, ``P(i beats j) = σ(r_i - r_j)``. Over aggregated pairs
with ``t`` battles (weighted) and first-model score ``s`` (wins + ties / 2) the negative
log-likelihood is ``Σ s·softplus(r_j - r_i) + (t - s)·softplus(r_i - r_j)``; its gradient and
Hessian are a score vector and a weighted graph Laplacian, so Newton's method converges in a
handful of steps to machine precision. The likelihood does not see a common shift of ``r``, so a
gauge term ``(Σ r)² / 2`` (zero at the optimum) makes the Hessian invertible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.special import expit, log_expit

from ratings.aggregate import PairCounts, pair_totals, weighted_bincount
from ratings.newton import newton_minimize

ELO_PER_NAT = 400.0 / math.log(10.0)
"""Elo points per natural-log unit of strength: 400 points per factor of 10 in odds."""


@dataclass(frozen=True)
class BradleyTerryFit:
    """Strengths in natural-log units, summing to zero, and how the fit went."""

    strengths: NDArray[np.float64]
    neg_log_likelihood: float
    iterations: int
    converged: bool
    ridge: float
    hessian: NDArray[np.float64]


def bt_objective(strengths: NDArray[np.float64], pairs: PairCounts, ridge: float = 0.0
                 ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Negative log-likelihood (ties as half), gradient and Hessian, plus ridge and gauge terms.

    Parameters
    ----------
    strengths
        Strengths in natural-log units, shape ``(n_models,)``.
    pairs
        Aggregated battles.
    ridge
        Strength ``λ`` of the Gaussian prior ``λ/2 · Σ r²``; 0 for plain maximum likelihood.

    Returns
    -------
    value, gradient, hessian
    """
    totals, scores = pair_totals(pairs)
    return _objective(strengths, pairs.first, pairs.second, totals, scores, ridge)


def _objective(r: NDArray[np.float64], first: NDArray[np.int64], second: NDArray[np.int64],
               totals: NDArray[np.float64], scores: NDArray[np.float64], ridge: float
               ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    n = len(r)
    d = r[first] - r[second]
    value = -float(scores @ log_expit(d) + (totals - scores) @ log_expit(-d))
    p = expit(d)
    residual = totals * p - scores
    grad = weighted_bincount(first, residual, n) - weighted_bincount(second, residual, n)
    hess = laplacian(first, second, totals * p * (1.0 - p), n)
    total = float(r.sum())
    value += 0.5 * ridge * float(r @ r) + 0.5 * total * total
    grad += ridge * r + total
    hess += ridge * np.eye(n) + 1.0
    return value, grad, hess


def laplacian(first: NDArray[np.int64], second: NDArray[np.int64], w: NDArray[np.float64],
              n: int) -> NDArray[np.float64]:
    """The ``n × n`` graph Laplacian with edge weights ``w`` on the unordered pairs given."""
    h = np.zeros((n, n))
    h[first, second] = -w
    h[second, first] = -w
    h[np.diag_indices(n)] = weighted_bincount(first, w, n) + weighted_bincount(second, w, n)
    return h


def fit_bradley_terry(pairs: PairCounts, *, ridge: float = 0.0, init: NDArray[np.float64] | None = None,
                      tol: float = 1e-11, max_iter: int = 100) -> BradleyTerryFit:
    """Fit Bradley–Terry strengths by maximum likelihood, ties counting half a win each way.

    Parameters
    ----------
    pairs
        Aggregated battles (see :func:`ratings.aggregate.aggregate`).
    ridge
        Gaussian prior strength on the natural-log scale; needed only when the maximum likelihood
        estimate does not exist (see :mod:`ratings.diagnostics`).
    init
        Starting strengths; zeros by default.
    tol
        Convergence threshold on the largest Newton step, in natural-log units.
    max_iter
        Maximum number of Newton iterations.

    Returns
    -------
    BradleyTerryFit
        Strengths summing to zero; multiply by :data:`ELO_PER_NAT` for the Elo scale.
    """
    n = pairs.n_models
    x0 = np.zeros(n) if init is None else np.asarray(init, dtype=np.float64)
    totals, scores = pair_totals(pairs)
    result = newton_minimize(
        lambda r: _objective(r, pairs.first, pairs.second, totals, scores, ridge), x0, tol=tol, max_iter=max_iter
    )
    strengths = result.x - result.x.mean()
    return BradleyTerryFit(strengths, result.fun, result.iterations, result.converged, ridge, result.hess - 1.0)


@dataclass(frozen=True)
class BatchFit:
    """Replicate strengths, shape ``(replicates, n_models)``, and how the solver went.

    ``newton_iterations`` and ``cg_iterations`` are the most any replicate needed; ``unconverged``
    lists the replicates (by row) whose last Newton step was still above ``tol``.
    """

    strengths: NDArray[np.float64]
    unconverged: NDArray[np.int64]
    newton_iterations: int
    cg_iterations: int


def fit_bradley_terry_batch(pairs: PairCounts, totals: NDArray[np.float64], scores: NDArray[np.float64],
                            init: NDArray[np.float64], *, ridge: float = 0.0, tol: float = 1e-9,
                            included: NDArray[np.bool_] | None = None, max_iter: int = 100) -> BatchFit:
    """Fit many replicates of the same pairs at once (the bootstrap's inner loop).

    Newton steps, each solved by conjugate gradients preconditioned with the Hessian's diagonal
    and followed by a line search, vectorised across replicates: the Hessian is never formed, only
    applied as ``Bᵀ diag(w) B`` over the pairs (``B`` the pair-by-model incidence matrix), so every
    operation costs a pass over the pairs, however many models there are. Every replicate starts
    from ``init``; the linear solves are inexact early on and tighten as the gradient shrinks
    (forcing term ``min(0.1, sqrt(‖g‖∞))``), which keeps Newton's fast final convergence.

    Parameters
    ----------
    pairs
        Supplies the pair structure (``first``, ``second``, ``n_models``).
    totals, scores
        Shape ``(replicates, n_pairs)``: weighted battles and first-model scores per replicate.
    init
        Shared starting strengths, typically the full-data fit.
    ridge, tol
        As in :func:`fit_bradley_terry` (``tol`` on the largest Newton step, natural-log units).
    included
        Optional ``(replicates, n_models)`` mask: each replicate is fitted on the battles among its
        included models only, in the gauge where the included models' strengths sum to what they
        sum to in ``init`` (so that the excluded ones cannot move them); excluded models keep
        their ``init`` value. Each replicate's included battles must make the estimate exist.
    max_iter
        Newton iterations before a replicate is reported as unconverged.

    Returns
    -------
    BatchFit
        Strengths with, in each replicate, the same sum as ``init`` over the included models.
    """
    n, first, second = pairs.n_models, pairs.first, pairs.second
    rounds = totals.shape[0]
    start = np.asarray(init, dtype=np.float64)
    if rounds == 0:
        return BatchFit(np.zeros((0, n)), np.zeros(0, dtype=np.int64), 0, 0)
    m = len(first)
    incidence = sparse.csr_array(
        (np.r_[np.ones(m), -np.ones(m)], (np.r_[np.arange(m), np.arange(m)], np.r_[first, second])), shape=(m, n)
    )
    spread = incidence.T.tocsr()
    t_all, s_all = np.ascontiguousarray(totals.T), np.ascontiguousarray(scores.T)
    mask_all = None if included is None else np.ascontiguousarray(included.T, dtype=np.float64)
    if mask_all is not None:
        kept_pairs = mask_all[first] * mask_all[second]
        t_all, s_all = t_all * kept_pairs, s_all * kept_pairs
    solver = _NewtonCG(incidence, spread, ridge)
    r_all = np.repeat(start[:, None], rounds, axis=1)
    active = np.arange(rounds)
    newton_iterations = cg_iterations = 0
    r, t, s, mask = r_all, t_all, s_all, mask_all
    # Every replicate starts at the same point, so the first evaluation shares one sigmoid.
    p0 = expit(start[first] - start[second])[:, None]
    grad = solver.gradient(r, t * p0 - s, mask)
    curvature = t * (p0 * (1.0 - p0))
    for iteration in range(1, max_iter + 1):
        newton_iterations = iteration
        forcing = np.clip(np.sqrt(np.abs(grad).max(axis=0)), 1e-10, 0.1)
        step, used = solver.solve(grad, curvature, mask, forcing)
        cg_iterations = max(cg_iterations, used)
        # A replicate whose Newton step is already below ``tol`` takes it and stops: quadratic
        # convergence leaves it far closer than ``tol`` to its optimum, so nothing is evaluated there.
        done = np.abs(step).max(axis=0) < tol
        if done.any():
            r_all[:, active[done]] = r[:, done] - step[:, done]
            keep = ~done
            if not keep.any():
                active = active[:0]
                break
            active, r, t, s, step = active[keep], r[:, keep], t[:, keep], s[:, keep], step[:, keep]
            grad, curvature = grad[:, keep], curvature[:, keep]
            mask = None if mask is None else mask[:, keep]
        r, grad, curvature, _ = solver.line_search(r, step, grad, t, s, mask)
        r_all[:, active] = r
    strengths = r_all.T
    if included is None:
        strengths = strengths - strengths.mean(axis=1, keepdims=True) + start.mean()
    return BatchFit(strengths, active.astype(np.int64), newton_iterations, cg_iterations)


class _NewtonCG:
    """The pieces of one vectorised Newton step; arrays hold one replicate per column."""

    def __init__(self, incidence: sparse.csr_array, spread: sparse.csr_array, ridge: float) -> None:
        self.incidence, self.spread, self.ridge = incidence, spread, ridge
        self.spread_abs = abs(spread)

    def evaluate(self, r: NDArray[np.float64], t: NDArray[np.float64], s: NDArray[np.float64],
                 mask: NDArray[np.float64] | None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The gradient (zero on excluded models) and the curvature ``t·σ(d)·σ(-d)`` per pair."""
        p = np.asarray(self.incidence @ r)
        _sigmoid_inplace(p)
        curvature = 1.0 - p
        curvature *= p
        curvature *= t
        p *= t
        p -= s
        return self.gradient(r, p, mask), curvature

    def gradient(self, r: NDArray[np.float64], residual: NDArray[np.float64], mask: NDArray[np.float64] | None
                 ) -> NDArray[np.float64]:
        grad = np.asarray(self.spread @ residual)
        if self.ridge:
            grad += self.ridge * r
        if mask is not None:
            grad *= mask
        return grad

    def line_search(self, r: NDArray[np.float64], step: NDArray[np.float64], grad: NDArray[np.float64],
                    t: NDArray[np.float64], s: NDArray[np.float64], mask: NDArray[np.float64] | None
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Move each replicate along ``-step``: the full step unless it overshoots the line's minimum.

        The objective is convex along the line, so its slope ``φ'(τ) = -step·∇f(r - τ·step)``
        only grows; a point where the slope is still ≤ 0 has a lower objective than every point
        before it. The full step is taken when ``φ'(1) ≤ 0`` (or overshoots by a rounding-sized
        slope); otherwise a safeguarded secant search on the slope brackets the minimum. Only
        gradients are needed, never the objective itself.

        Returns the new points, their gradients and curvatures, and the step fractions taken.
        """
        slope0 = -np.einsum("ij,ij->j", grad, step)
        candidate = r - step
        new_grad, new_curv = self.evaluate(candidate, t, s, mask)
        slope = -np.einsum("ij,ij->j", new_grad, step)
        fraction = np.ones(len(slope0))
        over = (slope > 1e-3 * np.abs(slope0)) & (slope0 < 0)
        if over.any():
            cols = np.flatnonzero(over)
            low, high = np.zeros(len(cols)), np.ones(len(cols))
            slope_low, slope_high = slope0[cols], slope[cols]
            open_ = np.ones(len(cols), dtype=bool)
            for _ in range(50):
                if not open_.any():
                    break
                at = np.flatnonzero(open_)
                secant = -slope_low[at] / (slope_high[at] - slope_low[at])
                tau = low[at] + (high[at] - low[at]) * np.clip(secant, 0.1, 0.9)
                c = cols[at]
                point = r[:, c] - tau * step[:, c]
                g, curv = self.evaluate(point, t[:, c], s[:, c], None if mask is None else mask[:, c])
                slope_tau = -np.einsum("ij,ij->j", g, step[:, c])
                done = slope_tau <= 0
                candidate[:, c], new_grad[:, c], new_curv[:, c], fraction[c] = point, g, curv, tau
                high[at] = np.where(done, high[at], tau)
                slope_high[at] = np.where(done, slope_high[at], slope_tau)
                low[at] = np.where(done, tau, low[at])
                slope_low[at] = np.where(done, slope_tau, slope_low[at])
                open_[at[done]] = False
        return candidate, new_grad, new_curv, fraction

    def solve(self, rhs: NDArray[np.float64], curvature: NDArray[np.float64], mask: NDArray[np.float64] | None,
              forcing: NDArray[np.float64]) -> tuple[NDArray[np.float64], int]:
        """Preconditioned conjugate gradients on ``H x = rhs`` per column, to ``‖res‖ ≤ forcing·‖rhs‖``.

        Directions stay in the gauge: zero on excluded models, summing to zero over included ones.
        """

        def hess(v: NDArray[np.float64]) -> NDArray[np.float64]:
            out = np.asarray(self.spread @ (curvature * (self.incidence @ v)))
            if self.ridge:
                out += self.ridge * v
            return out

        def project(v: NDArray[np.float64]) -> NDArray[np.float64]:
            # Onto the gauge: rounding leaves the gradient and H·v slightly off it, and a residual CG
            # cannot reduce would keep it iterating until it breaks down.
            if mask is None:
                if not self.ridge:
                    v -= v.mean(axis=0)
                return v
            v *= mask
            v -= mask * (v.sum(axis=0) / mask.sum(axis=0))
            return v

        # Jacobi: the replicate's own Hessian diagonal (zero on excluded models). Cheaper per
        # iteration than any dense factor and, on arena graphs, few iterations more.
        diagonal = np.asarray(self.spread_abs @ curvature)
        if self.ridge:
            diagonal += self.ridge
        with np.errstate(divide="ignore"):
            inverse_diagonal = np.where(diagonal > 0, 1.0 / diagonal, 0.0)

        def precondition(v: NDArray[np.float64]) -> NDArray[np.float64]:
            return project(v * inverse_diagonal)

        x = np.zeros_like(rhs)
        residual = project(rhs.copy())
        target = forcing * np.linalg.norm(residual, axis=0)
        z = precondition(residual)
        direction = z.copy()
        rz = np.einsum("ij,ij->j", residual, z)
        open_ = (np.linalg.norm(residual, axis=0) > target) & (rz > 0)
        # Columns still iterating: once under half of those held are open, the others are dropped
        # (their solutions are final in ``x``) so that later iterations cost only what is open.
        cols = np.arange(rhs.shape[1])
        used = 0
        for used in range(1, 4 * rhs.shape[0] + 50):
            if not open_.any():
                used -= 1
                break
            if 2 * np.count_nonzero(open_) < len(cols):
                cols, residual, direction, rz, target = (cols[open_], residual[:, open_], direction[:, open_],
                                                         rz[open_], target[open_])
                curvature, inverse_diagonal = curvature[:, open_], inverse_diagonal[:, open_]
                mask = None if mask is None else mask[:, open_]
                open_ = open_[open_]
            hd = hess(direction)
            curv = np.einsum("ij,ij->j", direction, hd)
            open_ &= curv > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                alpha = np.where(open_, rz / curv, 0.0)
            x[:, cols] += alpha * direction
            residual = project(residual - alpha * hd)
            open_ &= np.linalg.norm(residual, axis=0) > target
            z = precondition(residual)
            rz_new = np.einsum("ij,ij->j", residual, z)
            open_ &= rz_new > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                beta = np.where(open_, rz_new / rz, 0.0)
            direction = z + beta * direction
            rz = np.where(open_, rz_new, rz)
        return x, used


def _sigmoid_inplace(x: NDArray[np.float64]) -> NDArray[np.float64]:
    # σ(x) = (1 + tanh(x / 2)) / 2: several times faster than expit on large arrays, same accuracy
    # in absolute terms, which is what the gradient needs.
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x
