"""Confidence intervals: the bootstrap over aggregated counts and the sandwich estimator.

The bootstrap draws each replicate's cell counts from a multinomial with the observed cell
frequencies and as many battles as the data; that is exactly the distribution of counts after
resampling battles with replacement, without touching the battles. Replicates come in fixed
blocks, each with its own child of the seed, so results are bit-for-bit the same for a seed
whatever the number of worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.aggregate import COLUMN_SCORE, FIRST_WINS, SECOND_WINS, TIES, PairCounts, pair_totals
from ratings.bradley_terry import fit_bradley_terry_batch, laplacian
from ratings.diagnostics import DEFAULT_RIDGE, replicate_structure
from ratings.progress import Progress

Refit = Callable[[NDArray[np.float64], float], NDArray[np.float64]]
"""Fits one replicate from its cell weights, shape ``(n_pairs, 3)``, and a ridge; returns parameters."""

BLOCK = 50
BLOCK_CELLS = 1 << 21
"""Replicates are drawn and fitted in blocks of at most ``BLOCK`` replicates and ``BLOCK_CELLS`` cell counts
(replicates × pairs × 3): the arrays of a block (cells, totals, scores, the solver's) stay near 16 MB each, so a
bootstrap of some 45,000 pairs (300 models, 5M votes) holds tens of MB at a time, not hundreds. The block sizes
depend only on the data's shape and the rounds, so a seed still gives the same intervals bit for bit."""
DRAW_BATTLES_PER_CELL = 8
"""Up to this many battles per observed cell, replicates draw battles; above, Poisson counts."""
REPLICATE_TOL = 1e-6
"""A replicate's fit stops once its Newton step is below this, in natural-log units (under 2e-4 Elo
points), taking that last step; Newton's convergence being quadratic, what remains after it is far
smaller."""
AT_RISK = 40
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate parameters, shape ``(rounds, n_params)``, and how some replicates were handled.

    ``partial`` counts Bradley–Terry replicates fitted on part of the models because the estimate
    did not exist for all (see :func:`bootstrap_bradley_terry`; the models left out are the
    non-finite samples). ``ridged`` counts replicates of the other models
    (:func:`bootstrap_refit`) fitted with the ridge prior because a model in them never lost or
    never won although the full data were well posed; ``unconverged`` counts replicates whose
    fit did not converge.
    """

    samples: NDArray[np.float64]
    unconverged: int = 0
    ridged: int = 0
    partial: int = 0
    reference: NDArray[np.bool_] | None = None
    """Bradley–Terry only: the models whose battle-weighted mean fixes each replicate's gauge."""


def unbounded_replicates(pairs: PairCounts, cells: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which replicates have a model that played but never lost, or never won (ties count as both).

    Only models that lost (or won) at most ``AT_RISK`` battles in the data are checked: for the
    others an empty count in a replicate has probability below ``exp(-AT_RISK)``, and would show
    up as a replicate that did not converge.

    Parameters
    ----------
    pairs
        The pair structure.
    cells
        Replicate cell counts, shape ``(rounds, n_pairs, 3)``.

    Returns
    -------
    ndarray of bool, shape ``(rounds,)``
    """
    n = pairs.n_models
    scored_first = pairs.counts[:, FIRST_WINS] + pairs.counts[:, TIES]
    scored_second = pairs.counts[:, SECOND_WINS] + pairs.counts[:, TIES]
    scored = np.bincount(pairs.first, scored_first, n) + np.bincount(pairs.second, scored_second, n)
    conceded = np.bincount(pairs.first, scored_second, n) + np.bincount(pairs.second, scored_first, n)
    at_risk = np.flatnonzero(np.minimum(scored, conceded) <= AT_RISK)
    unbounded = np.zeros(cells.shape[0], dtype=bool)
    scores_of_first = [FIRST_WINS, TIES]
    scores_of_second = [SECOND_WINS, TIES]
    for model in at_risk:
        mine, theirs = cells[:, pairs.first == model], cells[:, pairs.second == model]
        model_scored = mine[:, :, scores_of_first].sum(axis=(1, 2)) + theirs[:, :, scores_of_second].sum(axis=(1, 2))
        model_conceded = mine[:, :, scores_of_second].sum(axis=(1, 2)) + theirs[:, :, scores_of_first].sum(axis=(1, 2))
        played = model_scored + model_conceded > 0
        unbounded |= played & ((model_scored == 0) | (model_conceded == 0))
    return unbounded


def resample_cells(pairs: PairCounts, rounds: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Draw ``rounds`` bootstrap replicates of the weighted cell counts, shape ``(rounds, n_pairs, 3)``.

    Battles are resampled with replacement; a resampled battle keeps the mean weight of its cell.
    Each replicate's counts follow exactly the multinomial distribution over cells with the
    observed frequencies and as many battles as the data. They are drawn whichever way is cheaper:
    with few battles per cell, by drawing battles themselves (uniform indices, counted per cell);
    with many, from independent Poisson counts, completed to the exact total (by a few more
    draws from the cells, or by removing surplus draws uniformly at random), which leaves them
    multinomial: Poisson counts given their total are multinomial, a multinomial sample plus an
    independent one is one, and a uniform subsample of one is one.
    """
    flat = pairs.counts.ravel()
    nonzero = np.flatnonzero(flat)
    frequency = flat[nonzero]
    battles = round(float(frequency.sum()))
    whole = np.array_equal(frequency, np.round(frequency))
    if whole and battles <= DRAW_BATTLES_PER_CELL * len(nonzero):
        draws = _draw_battles(frequency.astype(np.int64), battles, rounds, rng)
    else:
        draws = _draw_poisson_completed(frequency / frequency.sum(), battles, rounds, rng)
    draws *= pairs.weights.ravel()[nonzero] / frequency  # each resampled battle keeps its cell's mean weight
    cells = np.zeros((rounds, flat.size))
    cells[:, nonzero] = draws
    del draws
    return cells.reshape(rounds, pairs.n_pairs, 3)


def _draw_battles(frequency: NDArray[np.int64], battles: int, rounds: int, rng: np.random.Generator
                  ) -> NDArray[np.float64]:
    cell_of_battle = np.repeat(np.arange(len(frequency)), frequency)
    draws = np.empty((rounds, len(frequency)))
    for k in range(rounds):
        draws[k] = np.bincount(cell_of_battle[rng.integers(0, battles, battles)], minlength=len(frequency))
    return draws


def _draw_poisson_completed(share: NDArray[np.float64], battles: int, rounds: int, rng: np.random.Generator
                            ) -> NDArray[np.float64]:
    draws = rng.poisson(battles * share, size=(rounds, len(share))).astype(np.float64)
    cumulative = np.cumsum(share)
    cumulative /= cumulative[-1]
    for k in range(rounds):
        total = int(draws[k].sum())
        if total < battles:
            extra = np.searchsorted(cumulative, rng.random(battles - total), side="right")
            draws[k] += np.bincount(np.minimum(extra, len(share) - 1), minlength=len(share))
        elif total > battles:
            # Remove the surplus: distinct positions among the ``total`` drawn battles, found by cell.
            positions = rng.choice(total, total - battles, replace=False, shuffle=False)
            cells = np.searchsorted(np.cumsum(draws[k]), positions, side="right")
            draws[k] -= np.bincount(cells, minlength=len(share))
    return draws


def bootstrap_bradley_terry(pairs: PairCounts, strengths: NDArray[np.float64], *, rounds: int = 1000,
                            seed: int = 0, ridge: float = 0.0, workers: int = 1,
                            progress: Progress | None = None) -> BootstrapResult:
    """Bootstrap Bradley–Terry strengths (ties as half), vectorised over replicates.

    In a replicate where the estimate does not exist for every model (a model, or a group, that
    never lost or never won against the rest; a model not drawn at all), the replicate is fitted
    on its largest strongly connected group of models only, in the gauge where that group's
    strengths sum to what they sum to in the full-data fit, so the models left out cannot drag
    anyone else's interval. Those left out get ``+inf`` (they never lost to the group, directly or
    through others), ``-inf`` (never won) or ``nan`` (not comparable with it) in that replicate;
    :func:`percentile_intervals` treats ``nan`` as unbounded both ways. With ``ridge > 0`` (data
    on which the full-data estimate itself does not exist) every replicate is fitted whole with
    the ridge prior instead.

    Parameters
    ----------
    pairs
        Aggregated battles.
    strengths
        The full-data fit; every replicate starts from it.
    rounds, seed
        Number of replicates and the seed of ``numpy.random.SeedSequence``.
    ridge
        The ridge of the full-data fit, applied to every replicate.
    workers
        Threads; the result does not depend on it.
    progress
        Optional callback ``progress(done, rounds)``.

    Returns
    -------
    BootstrapResult
    """
    def block(size: int, rng: np.random.Generator) -> BootstrapResult:
        cells = resample_cells(pairs, size, rng)
        structure = None if ridge else replicate_structure(pairs, cells)
        affected = np.zeros(size, dtype=bool) if structure is None else structure.affected
        fit = fit_bradley_terry_batch(
            pairs, cells.sum(axis=2), cells @ COLUMN_SCORE, strengths, ridge=ridge, tol=REPLICATE_TOL,
            included=None if structure is None or not affected.any() else structure.included)
        samples = fit.strengths
        if structure is not None and affected.any():
            samples[~structure.included] = np.nan
            samples[structure.above] = np.inf
            samples[structure.below] = -np.inf
        return BootstrapResult(samples, len(fit.unconverged), 0, int(affected.sum()))

    return centre_on_reference(_run_blocks(block, rounds, seed, workers, progress, block_size(pairs)), pairs, strengths)


def centre_on_reference(result: BootstrapResult, pairs: PairCounts, strengths: NDArray[np.float64]
                        ) -> BootstrapResult:
    """Shift each replicate so that its reference models' battle-weighted mean is the full fit's.

    The reference models are those rated in every replicate; each counts as many times as it
    played. Intervals are then for a model's rating relative to that weighted average: a model
    left out of some replicates (unbounded there) has no say in it, and a model with few battles
    little, so neither can drag anyone else's interval. Differences between models, and ratings
    relative to an anchor model, are unchanged by the shift.
    """
    samples = result.samples
    n = pairs.n_models
    if not samples.size:
        return result
    played = np.bincount(pairs.first, pairs.counts.sum(axis=1), n) + np.bincount(pairs.second,
                                                                                 pairs.counts.sum(axis=1), n)
    reference = np.isfinite(samples[:, :n]).all(axis=0) & (played > 0)
    if reference.any():
        weight = played[reference] / played[reference].sum()
        shift = (samples[:, :n][:, reference] - strengths[:n][reference]) @ weight
        samples = samples.copy()
        samples[:, :n] -= shift[:, None]
    return BootstrapResult(samples, result.unconverged, result.ridged, result.partial, reference)


def bootstrap_refit(pairs: PairCounts, refit: Refit, *, rounds: int = 1000, seed: int = 0, ridge: float = 0.0,
                    workers: int = 1, progress: Progress | None = None) -> BootstrapResult:
    """Bootstrap any model fitted on pair counts, one replicate at a time (e.g. Davidson).

    ``refit(cells, ridge)`` fits one replicate; replicates in which a model never lost or never won
    get :data:`ratings.diagnostics.DEFAULT_RIDGE` when ``ridge`` is 0.
    """

    def block(size: int, rng: np.random.Generator) -> BootstrapResult:
        cells = resample_cells(pairs, size, rng)
        unbounded = unbounded_replicates(pairs, cells) if ridge == 0 else np.zeros(size, dtype=bool)
        samples = [refit(c, DEFAULT_RIDGE if u else ridge) for c, u in zip(cells, unbounded, strict=True)]
        return BootstrapResult(np.stack(samples), 0, int(unbounded.sum()))

    return _run_blocks(block, rounds, seed, workers, progress, block_size(pairs))


def block_size(pairs: PairCounts) -> int:
    """Replicates per block: ``BLOCK``, fewer when the data has so many pairs that a block would pass ``BLOCK_CELLS``."""
    return max(1, min(BLOCK, BLOCK_CELLS // max(1, 3 * pairs.n_pairs)))


def _run_blocks(block: Callable[[int, np.random.Generator], BootstrapResult], rounds: int, seed: int, workers: int,
                progress: Progress | None, size: int = BLOCK) -> BootstrapResult:
    sizes = [min(size, rounds - start) for start in range(0, rounds, size)]
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    results: list[BootstrapResult] = []
    done = 0

    def report(result: BootstrapResult) -> None:
        nonlocal done
        results.append(result)
        done += len(result.samples)
        if progress is not None:
            progress(done, rounds)

    jobs = [(size, np.random.Generator(np.random.PCG64(child))) for size, child in zip(sizes, children, strict=True)]
    if workers <= 1:
        for size, rng in jobs:
            report(block(size, rng))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(lambda job: block(*job), jobs):
                report(result)
    if not results:
        return BootstrapResult(np.zeros((0, 0)))
    return BootstrapResult(np.concatenate([r.samples for r in results]), sum(r.unconverged for r in results),
                           sum(r.ridged for r in results), sum(r.partial for r in results))


def sandwich_bradley_terry(pairs: PairCounts, strengths: NDArray[np.float64], ridge: float = 0.0
                           ) -> NDArray[np.float64]:
    """Robust (sandwich) covariance ``H⁻¹ J H⁻¹`` of Bradley–Terry strengths, ties as half.

    ``J`` sums the outer products of per-battle scores, computed per cell as
    ``Σ weight² · (y - p)²`` on each pair's edge; ``H`` is the Hessian of the negative
    log-likelihood (plus the ridge). Both are Laplacians, so the covariance is taken in the
    sum-to-zero gauge of the strengths.

    Returns
    -------
    ndarray
        Covariance of the strengths in natural-log units², shape ``(n_models, n_models)``.
    """
    n = pairs.n_models
    hessian, meat = sandwich_laplacians(pairs, strengths)
    return sandwich_from_parts(hessian + ridge * np.eye(n), meat, n)


def sandwich_laplacians(pairs: PairCounts, strengths: NDArray[np.float64]
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The two Laplacians of the ties-as-half sandwich: ``H`` (edge ``Σ w·p(1 − p)``) and ``J``
    (edge ``Σ_battles w²·(y − p)²``, from the cells as ``Σ w²y² − 2p Σ w²y + p² Σ w²``)."""
    n = pairs.n_models
    totals, _ = pair_totals(pairs)
    p = 1.0 / (1.0 + np.exp(-(strengths[pairs.first] - strengths[pairs.second])))
    meat_w = pairs.weights_sq @ COLUMN_SCORE**2 - 2 * p * (pairs.weights_sq @ COLUMN_SCORE)
    meat_w += p * p * pairs.weights_sq.sum(axis=1)
    return (laplacian(pairs.first, pairs.second, totals * p * (1 - p), n),
            laplacian(pairs.first, pairs.second, meat_w, n))


def sandwich_from_parts(bread: NDArray[np.float64], meat: NDArray[np.float64], n_models: int
                        ) -> NDArray[np.float64]:
    """``(H + G)⁻¹ J (H + G)⁻¹`` with ``G`` the gauge on the first ``n_models`` coordinates.

    When ``J`` annihilates the ones vector on the strengths, the gauge term drops out and the
    result is the covariance in the sum-to-zero gauge.
    """
    gauge = np.zeros_like(bread)
    gauge[:n_models, :n_models] = 1.0
    inverse = np.linalg.pinv(bread + gauge, hermitian=True)
    covariance = inverse @ meat @ inverse
    return np.asarray(0.5 * (covariance + covariance.T))


def anchor_covariance(covariance: NDArray[np.float64], anchor: int | None) -> NDArray[np.float64]:
    """Covariance of ``r_i - r_anchor`` (or of the centred strengths when ``anchor`` is None)."""
    if anchor is None:
        return covariance
    n = covariance.shape[0]
    contrast = np.eye(n)
    contrast[:, anchor] -= 1.0
    return np.asarray(contrast @ covariance @ contrast.T)


def reference_covariance(covariance: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Covariance of ``r_i - w·r``, ``w`` the weights normalised: the sandwich's counterpart of the bootstrap's
    reference gauge (:func:`centre_on_reference`). With ``w`` the models' battle counts, a model with few battles,
    however uncertain, adds little to any other model's interval; in the sum-to-zero gauge its variance would reach
    every model through the mean."""
    n = covariance.shape[0]
    w = np.asarray(weights, dtype=np.float64)
    contrast = np.eye(n) - np.outer(np.ones(n), w / w.sum())
    return np.asarray(contrast @ covariance @ contrast.T)


def normal_intervals(center: NDArray[np.float64], covariance: NDArray[np.float64], z: float = Z_95
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Symmetric intervals ``center ± z·sqrt(diag(covariance))``."""
    half = z * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return center - half, center + half


def percentile_intervals(samples: NDArray[np.float64], level: float = 0.95
                         ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-column percentile intervals of bootstrap samples, shape ``(rounds, n_models)``.

    Samples may be ``±inf`` (a model unbounded in that replicate) or ``nan`` (undetermined),
    which counts as ``-inf`` for the lower bound and ``+inf`` for the upper: a bound is infinite
    when more than the tail's share of replicates could not bound the model. Finite samples give
    exactly ``numpy.percentile``'s linear interpolation.
    """
    tail = 50.0 * (1.0 - level)
    if np.isfinite(samples).all():
        lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=0)
        return lower, upper
    lower = _percentile_with_infinities(np.where(np.isnan(samples), -np.inf, samples), tail)
    upper = _percentile_with_infinities(np.where(np.isnan(samples), np.inf, samples), 100.0 - tail)
    return lower, upper


def _percentile_with_infinities(samples: NDArray[np.float64], q: float) -> NDArray[np.float64]:
    ordered = np.sort(samples, axis=0)
    position = (len(ordered) - 1) * q / 100.0
    low, high = int(np.floor(position)), int(np.ceil(position))
    fraction = position - low
    a, b = ordered[low], ordered[high]
    with np.errstate(invalid="ignore"):
        value = a + fraction * (b - a)
    value = np.where(a == b, a, value)
    # Between an infinite and any other sample the interpolation is infinite; between -inf and +inf,
    # the side of the tail wins (the conservative bound).
    ends = [(np.isneginf(a), -np.inf), (np.isposinf(b), np.inf)]
    for infinite, end in ends if q < 50 else ends[::-1]:
        value = np.where(infinite & (fraction > 0), end, value)
    return np.where(fraction == 0, a, value)


def rank_upper_bound(lower: NDArray[np.float64], upper: NDArray[np.float64]) -> NDArray[np.int64]:
    """Rank (UB): 1 + the number of models whose lower bound is above this model's upper bound."""
    order = np.sort(lower)
    above = len(lower) - np.searchsorted(order, upper, side="right")
    return (1 + above).astype(np.int64)
