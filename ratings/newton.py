"""A damped Newton minimiser for the small, smooth, convex objectives of this package."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Objective = Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64], NDArray[np.float64]]]


@dataclass(frozen=True)
class NewtonResult:
    """The minimiser, the objective and gradient there, and whether the step fell below ``tol``."""

    x: NDArray[np.float64]
    fun: float
    grad: NDArray[np.float64]
    hess: NDArray[np.float64]
    iterations: int
    converged: bool


def newton_minimize(fun: Objective, x0: NDArray[np.float64], *, tol: float = 1e-11,
                    max_iter: int = 100) -> NewtonResult:
    """Minimise a convex function with Newton steps and backtracking.

    Parameters
    ----------
    fun
        Returns the value, gradient and Hessian at a point. The Hessian must be positive definite
        (callers add a gauge term for directions the likelihood does not identify).
    x0
        Starting point.
    tol
        Stop when the largest component of a full Newton step is below this.
    max_iter
        Give up (``converged=False``) after this many iterations.

    Returns
    -------
    NewtonResult
    """
    x = np.array(x0, dtype=np.float64)
    f, g, h = fun(x)
    for iteration in range(1, max_iter + 1):
        step = _solve(h, g)
        size = float(np.max(np.abs(step))) if step.size else 0.0
        if not np.isfinite(size):
            break
        t = 1.0
        while True:
            candidate = x - t * step
            f_new, g_new, h_new = fun(candidate)
            # Near the optimum rounding makes f flat; accept a full step whose gradient shrank.
            if f_new <= f + 1e-4 * t * float(g @ -step) or (t == 1.0 and size < 1e-6) or t < 1e-10:
                break
            t *= 0.5
        x, f, g, h = candidate, f_new, g_new, h_new
        if size < tol:
            return NewtonResult(x, f, g, h, iteration, True)
    return NewtonResult(x, f, g, h, max_iter, False)


def _solve(h: NDArray[np.float64], g: NDArray[np.float64]) -> NDArray[np.float64]:
    try:
        step = np.linalg.solve(h, g)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(h, g, rcond=None)[0]
    return np.asarray(step, dtype=np.float64)
