"""Online Elo, the arena's original secondary view: ratings updated battle by battle."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ratings.data import Battles
from ratings.outcomes import SCORE_A


def online_elo(battles: Battles, *, k: float = 4.0, initial: float = 1000.0, scale: float = 400.0,
               base: float = 10.0, by_time: bool = True) -> NDArray[np.float64]:
    """Run online Elo over the battles.

    Parameters
    ----------
    battles
        The battles. Weights are ignored: every battle is one update.
    k
        Update size (FastChat's default is 4).
    initial, scale, base
        Starting rating and the logistic curve ``1 / (1 + base ** ((r_b - r_a) / scale))``.
    by_time
        Process battles in timestamp order when ``battles.tstamp`` is present (stable, so equal
        timestamps keep file order); otherwise, or when false, in the given order.

    Returns
    -------
    ndarray
        The final ratings, shape ``(n_models,)``.

    Raises
    ------
    ValueError
        For aggregated battles (with ``counts``): online Elo needs the battles in order.
    """
    if battles.counts is not None:
        raise ValueError("online Elo needs individual battles in order, not aggregated counts")
    order = np.argsort(battles.tstamp, kind="stable") if by_time and battles.tstamp is not None else None
    a = battles.model_a if order is None else battles.model_a[order]
    b = battles.model_b if order is None else battles.model_b[order]
    outcome = battles.outcome if order is None else battles.outcome[order]
    ratings = [initial] * battles.n_models
    score_a = SCORE_A.tolist()
    # A plain Python loop over lists: each update depends on the previous one, and list indexing
    # is several times faster than numpy scalar indexing here.
    for i, j, result in zip(a.tolist(), b.tolist(), outcome.tolist(), strict=True):
        expected = 1.0 / (1.0 + base ** ((ratings[j] - ratings[i]) / scale))
        delta = k * (score_a[result] - expected)
        ratings[i] += delta
        ratings[j] -= delta
    return np.asarray(ratings, dtype=np.float64)

