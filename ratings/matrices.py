"""Pairwise matrices for the leaderboard: battle counts, observed and predicted win rates."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ratings.aggregate import FIRST_WINS, SECOND_WINS, TIES, PairCounts
from ratings.bradley_terry import ELO_PER_NAT


def battle_count_matrix(pairs: PairCounts) -> NDArray[np.float64]:
    """Symmetric matrix of the number of battles between each pair of models."""
    n = pairs.n_models
    matrix = np.zeros((n, n))
    totals = pairs.counts.sum(axis=1)
    matrix[pairs.first, pairs.second] = totals
    matrix[pairs.second, pairs.first] = totals
    return matrix


def win_rate_matrix(pairs: PairCounts, *, ties: str = "half") -> NDArray[np.float64]:
    """Observed rate at which the row model beat the column model.

    Parameters
    ----------
    pairs
        Aggregated battles (weighted counts are used).
    ties
        ``"half"``: ties count half a win for each side, over all battles; ``"exclude"``: wins over
        decisive battles only.

    Returns
    -------
    ndarray
        ``(n, n)``; NaN where the pair never met (or, excluding ties, never had a decisive battle).
    """
    if ties not in ("half", "exclude"):
        raise ValueError("ties must be 'half' or 'exclude'")
    n = pairs.n_models
    w = pairs.weights
    tie_share = 0.5 * w[:, TIES] if ties == "half" else 0.0
    denominator = w.sum(axis=1) if ties == "half" else w[:, FIRST_WINS] + w[:, SECOND_WINS]
    matrix = np.full((n, n), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        first_rate = np.where(denominator > 0, (w[:, FIRST_WINS] + tie_share) / denominator, np.nan)
        second_rate = np.where(denominator > 0, (w[:, SECOND_WINS] + tie_share) / denominator, np.nan)
    matrix[pairs.first, pairs.second] = first_rate
    matrix[pairs.second, pairs.first] = second_rate
    return matrix


def predicted_win_rate_matrix(ratings: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bradley–Terry probability that the row model beats the column model, from Elo-scale ratings."""
    r = np.asarray(ratings, dtype=np.float64) / ELO_PER_NAT
    matrix = 1.0 / (1.0 + np.exp(r[None, :] - r[:, None]))
    np.fill_diagonal(matrix, np.nan)
    return matrix
