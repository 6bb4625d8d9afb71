"""How fragile a ranking is: the fewest votes whose removal puts one model below the next.

For two models ``i`` above ``j`` (``r_i > r_j`` in the Bradley–Terry fit, ties as half), the
question is the smallest set of battles whose removal makes ``r_i <= r_j`` on refitting. Trying
every set is out of reach, so the answer is found the way Broderick, Giordano and Meager (2020)
find the most influential data ("approximate maximum influence perturbation"), checked by refits:

1. **Influence.** At the fit ``r``, removing one battle between ``a`` and ``b`` that scored ``s`` for
   ``a`` moves the strengths by about ``-I⁻¹ g`` with ``g = (s - σ(r_a - r_b)) (e_a - e_b)`` the
   battle's score gradient and ``I`` the Fisher information (one Newton step from the fit). The gap
   ``r_i - r_j`` moves by ``-(s - σ(r_a - r_b)) (w_a - w_b)`` with ``w = I⁻¹ (e_i - e_j)``: one
   linear solve gives every battle's effect, and all battles of one (pair, outcome) cell have the
   same.
2. **Greedy removal.** Battles are removed in order of how much they shrink the gap, as many as
   the linear prediction says close it; the model is refitted and the influences recomputed, until
   a refit shows the order reversed (``r_i <= r_j``) or the removal budget is spent.
3. **Trim.** The removals are kept in the order they were made; a binary search over how many of
   them are removed, refitting each time, finds the shortest prefix that still reverses the order.

The count reported is therefore an *upper bound* on the true minimum, exact in what it claims:
removing those votes, and refitting, does reverse the order (``verified``). A smaller set may exist
that this method does not find. When no reversal is found within ``max_share`` of the votes the
order is reported as holding beyond that budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from ratings.aggregate import COLUMN_SCORE, PairCounts, aggregate
from ratings.bradley_terry import bt_objective, fit_bradley_terry
from ratings.data import Battles
from ratings.diagnostics import check_well_posed

MAX_SHARE = 0.5  # the removal budget: at most this share of the votes
MAX_ROUNDS = 40  # greedy rounds (each one refit) before giving up
METHOD = "influence-greedy removal, verified by refitting (v1)"


@dataclass(frozen=True)
class Fragility:
    """The fewest votes found whose removal puts ``above`` at or below ``below`` (model indices)."""

    above: int
    below: int
    votes: int | None  # None: no reversal found within the budget
    share: float | None  # of all the votes
    budget: int  # the most votes the search would remove
    refits: int
    removed: NDArray[np.float64] | None = None  # the votes removed, per (pair, outcome) cell like ``pairs.counts``

    def to_dict(self, names: list[str]) -> dict[str, object]:
        return {"above": names[self.above], "below": names[self.below], "votes": self.votes, "share": self.share,
                "budget": self.budget, "refits": self.refits}


def _gap_after(pairs: PairCounts, removed: NDArray[np.float64], start: NDArray[np.float64], i: int, j: int
               ) -> tuple[float, NDArray[np.float64]]:
    left = pairs.with_weights(pairs.counts - removed)
    # The question is the gap's sign: 1e-8 nats (under 1e-6 Elo points) is ample, and saves a Newton step a refit.
    fit = fit_bradley_terry(left, init=start, tol=1e-8)
    return float(fit.strengths[i] - fit.strengths[j]), fit.strengths


def fragility(pairs: PairCounts, strengths: NDArray[np.float64], above: int, below: int, *,
              max_share: float = MAX_SHARE, max_rounds: int = MAX_ROUNDS) -> Fragility:
    """The fewest votes found whose removal reverses ``above`` over ``below``; see the module docstring.

    ``pairs`` are unweighted counts and ``strengths`` their maximum-likelihood fit (no ridge).
    """
    total = round(pairs.n_battles)
    budget = int(max_share * total)
    counts = pairs.counts
    flat_counts = counts.ravel()
    removed = np.zeros_like(counts)
    sequence: list[tuple[int, int]] = []  # (flat cell, votes), in the order removed
    r = np.asarray(strengths, dtype=np.float64)
    gap = float(r[above] - r[below])
    refits = 0
    c = np.zeros(pairs.n_models)
    c[above], c[below] = 1.0, -1.0
    while gap > 0 and refits < max_rounds:
        left = pairs.with_weights(counts - removed)
        _, _, hessian = bt_objective(r, left)  # includes the gauge term, so the solve is well posed
        try:
            w = np.linalg.solve(hessian, c)
        except np.linalg.LinAlgError:  # the removals cut the comparison graph apart: the least-squares direction
            w = np.linalg.lstsq(hessian, c, rcond=None)[0]
        p = expit(r[pairs.first] - r[pairs.second])
        # Change of the gap per battle removed, per (pair, outcome) cell: negative shrinks it.
        effect = -(COLUMN_SCORE[None, :] - p[:, None]) * (w[pairs.first] - w[pairs.second])[:, None]
        available = (counts - removed).ravel()
        flat_effect = effect.ravel()
        order = np.argsort(flat_effect, kind="stable")
        order = order[(flat_effect[order] < 0) & (available[order] > 0)]
        if not len(order):
            break
        already = int(removed.sum())
        room = budget - already
        if room <= 0:
            break
        predicted = np.cumsum(flat_effect[order] * available[order])
        # The cells up to the one where the predicted gap closes; that one only as far as it needs.
        last = int(np.searchsorted(-predicted, gap))
        taken = 0
        for position, cell in enumerate(order[: last + 1]):
            before = predicted[position - 1] if position else 0.0
            if position == last and last < len(order):
                want = int(np.ceil((gap + before) / -flat_effect[cell])) if flat_effect[cell] < 0 else 0
                votes = int(min(available[cell], max(want, 1)))
            else:
                votes = int(available[cell])
            votes = min(votes, room - taken)
            if votes <= 0:
                break
            sequence.append((int(cell), votes))
            removed.ravel()[cell] += votes
            taken += votes
        if not taken:
            break
        gap, r = _gap_after(pairs, removed, r, above, below)
        refits += 1
    if gap > 0:
        return Fragility(above, below, None, None, budget, refits)
    # Trim: the shortest prefix of the removals (in order) that still reverses the order on refitting.
    steps = np.repeat([cell for cell, _ in sequence], [votes for _, votes in sequence])
    low, high = 0, len(steps)  # high reverses it; low (nothing removed) does not
    while high - low > 1:
        middle = (low + high) // 2
        trial = np.bincount(steps[:middle], minlength=flat_counts.size).astype(np.float64).reshape(counts.shape)
        trial_gap, _ = _gap_after(pairs, trial, strengths, above, below)
        refits += 1
        if trial_gap <= 0:
            high = middle
        else:
            low = middle
    found = np.bincount(steps[:high], minlength=flat_counts.size).astype(np.float64).reshape(counts.shape)
    return Fragility(above, below, high, high / total if total else None, budget, refits, found)


def ranking_fragility(pairs: PairCounts, strengths: NDArray[np.float64], order: list[int], *, top: int = 5,
                      max_share: float = MAX_SHARE) -> list[Fragility]:
    """:func:`fragility` for each adjacent pair of the first ``top`` + 1 models of ``order`` (best first)."""
    return [fragility(pairs, strengths, a, b, max_share=max_share)
            for a, b in pairwise(order[:top + 1])
            if strengths[a] > strengths[b]]


def leaderboard_fragility(battles: Battles, *, top: int = 5, max_share: float = MAX_SHARE,
                          min_rank_battles: int = 0) -> dict[str, object]:
    """Fragility of the first ``top`` places of the plain Bradley–Terry fit (ties as half, every battle weighing
    the same) of these battles: for each adjacent pair, the fewest votes found whose removal reverses it.
    Models with fewer than ``min_rank_battles`` battles are not ranked, so not placed either.

    Returns ``{"method": ..., "votes": total, "pairs": [...]}`` (see :meth:`Fragility.to_dict`), with no
    pairs when the maximum likelihood estimate does not exist (the fit would need a ridge).
    """
    pairs = aggregate(battles)
    total = round(pairs.n_battles)
    result: dict[str, object] = {"method": METHOD, "votes": total, "max_share": max_share, "pairs": []}
    if pairs.n_models < 2 or not check_well_posed(pairs).well_posed:
        return result
    plain = pairs.with_weights(pairs.counts)
    fit = fit_bradley_terry(plain)
    played = np.bincount(plain.first, plain.counts.sum(axis=1), plain.n_models) + np.bincount(
        plain.second, plain.counts.sum(axis=1), plain.n_models)
    order = [int(k) for k in np.argsort(-fit.strengths, kind="stable") if played[k] >= min_rank_battles]
    found = ranking_fragility(plain, fit.strengths, order, top=top, max_share=max_share)
    result["pairs"] = [{"rank": order.index(f.above) + 1, **f.to_dict(battles.names)} for f in found]
    return result
