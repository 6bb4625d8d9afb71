"""LMArena's current method: battles reweighted per pair, sandwich intervals regularised as arena-rank does.

Since July 2025 LMArena computes its leaderboard with its open-source engine arena-rank: Bradley–Terry
(ties as half a win each way) fitted with every battle weighted by ``1 / max(n_pair, 50)``, where
``n_pair`` is the number of battles its unordered pair of models played (every outcome counts,
ties and "both bad" included), and 95% intervals from the sandwich (CLT) covariance
``H⁻¹ J H⁻¹``. Its Hessian gets ``1e-5`` added on the diagonal, times the number of battles when
no battle is reweighted (all weights 1) and times 1 otherwise; with the pair weights that is a
plain ``1e-5``.

The weights only change what is fitted, so the ratings come from the exact fit of
:mod:`ratings.bradley_terry` on the weighted battles; this module supplies the weights and the
sandwich with arena-rank's regularisation, which :func:`ratings.leaderboard.compute_leaderboard`
uses for ``reweight="pairs"`` (see docs/ratings.md, "LMArena's method").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ratings.aggregate import PairCounts
from ratings.data import Battles
from ratings.intervals import sandwich_laplacians

REWEIGHTS = ("none", "pairs")
"""``"none"``: every battle weighs the same; ``"pairs"``: each battle weighs ``1 / max(pair count, 50)``."""

MIN_PAIR_COUNT = 50
"""Pairs with fewer battles than this are weighted as if they had this many (arena-rank's ``min_pair_count``)."""

HESSIAN_REG = 1e-5
"""arena-rank's ``hessian_reg``: added on the Hessian's diagonal, scaled by :func:`hessian_regularisation`."""


def pair_counts(battles: Battles) -> NDArray[np.float64]:
    """For each battle (row), how many battles its unordered pair of models played, whatever the outcome.

    Rows of aggregated data count as many battles as their ``counts`` say; battle weights do not enter.
    """
    n = battles.n_models
    key = np.minimum(battles.model_a, battles.model_b) * n + np.maximum(battles.model_a, battles.model_b)
    _, inverse = np.unique(key, return_inverse=True)
    per_pair = np.bincount(inverse, battles.frequencies())
    return np.asarray(per_pair[inverse], dtype=np.float64)


def pair_weights(battles: Battles, min_pair_count: float = MIN_PAIR_COUNT) -> NDArray[np.float64]:
    """Per-row weights ``1 / max(pair count, min_pair_count)`` (not normalised: arena-rank does not either)."""
    return 1.0 / np.maximum(pair_counts(battles), float(min_pair_count))


def reweight_battles(battles: Battles, reweight: str) -> Battles:
    """The battles with the weights ``reweight`` names, times any weights they already carry.

    Raises
    ------
    ValueError
        If ``reweight`` is not one of :data:`REWEIGHTS`.
    """
    check_reweight(reweight)
    if reweight == "none" or len(battles) == 0:
        return battles
    weights = pair_weights(battles)
    if battles.weights is not None:
        weights = weights * battles.weights
    return Battles(
        model_a=battles.model_a, model_b=battles.model_b, outcome=battles.outcome, names=list(battles.names),
        weights=weights, tstamp=battles.tstamp, anony=battles.anony, style_a=battles.style_a,
        style_b=battles.style_b, counts=battles.counts,
    )


def check_reweight(reweight: object) -> None:
    """Raise ``ValueError`` unless ``reweight`` is one of :data:`REWEIGHTS`."""
    if reweight not in REWEIGHTS:
        raise ValueError(f"reweight must be one of {', '.join(REWEIGHTS)} (got {reweight!r}): 'pairs' weights each "
                         f"battle by 1/max(battles of its pair, {MIN_PAIR_COUNT})")


def hessian_regularisation(battles: Battles) -> float:
    """arena-rank's diagonal term: ``1e-5 × number of battles`` when every weight is 1, else ``1e-5``.

    "Every weight is 1" is tested as arena-rank tests it, with ``allclose`` at NumPy's default tolerances.
    """
    if battles.weights is None or np.allclose(battles.weights, 1.0):
        return HESSIAN_REG * battles.n_battles
    return HESSIAN_REG


def sandwich_lmarena(pairs: PairCounts, strengths: NDArray[np.float64], hessian_reg: float, ridge: float = 0.0
                     ) -> NDArray[np.float64]:
    """arena-rank's sandwich covariance ``(H + c·I)⁻¹ J (H + c·I)⁻¹`` of Bradley–Terry strengths, ties as half.

    ``H`` is the Hessian of the weighted negative log-likelihood (not divided by the total
    weight), the Laplacian with edge weights ``Σ w · p(1 − p)``; ``J`` the Laplacian with edge
    weights ``Σ_battles w² · (y − p)²``; ``c = hessian_reg + ridge`` (``ridge`` being the fit's own
    ridge prior, zero on well-posed data). Both Laplacians annihilate the ones vector and ``c·I``
    commutes with everything, so the result equals ``(H + c·I + 11ᵀ)⁻¹ J (H + c·I + 11ᵀ)⁻¹``, which
    is what is computed: the same matrix in the sum-to-zero gauge, better conditioned than
    inverting ``H + c·I`` directly.

    Parameters
    ----------
    pairs
        Aggregated (weighted) battles.
    strengths
        The fitted strengths, natural-log units.
    hessian_reg
        The diagonal term, usually :func:`hessian_regularisation` of the battles.
    ridge
        The fit's ridge prior, added to the diagonal as well.

    Returns
    -------
    ndarray
        Covariance of the strengths in natural-log units², shape ``(n_models, n_models)``.
    """
    n = pairs.n_models
    hessian, meat = sandwich_laplacians(pairs, strengths)
    bread = hessian + (hessian_reg + ridge) * np.eye(n) + 1.0
    half = np.linalg.solve(bread, meat)
    covariance = np.linalg.solve(bread, half.T)
    return np.asarray(0.5 * (covariance + covariance.T))
