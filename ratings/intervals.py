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

from ratings.aggregate import COLUMN_SCORE, PairCounts, pair_totals
from ratings.bradley_terry import fit_bradley_terry_batch, laplacian

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while replicates are fitted."""

Refit = Callable[[NDArray[np.float64]], NDArray[np.float64]]
"""Fits one replicate from its cell weights, shape ``(n_pairs, 3)``, returning strengths."""

BLOCK = 50
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate strengths, shape ``(rounds, n_models)``, and how many replicates did not converge."""

    samples: NDArray[np.float64]
    unconverged: int


def resample_cells(pairs: PairCounts, rounds: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Draw ``rounds`` bootstrap replicates of the weighted cell counts, shape ``(rounds, n_pairs, 3)``.

    Battles are resampled with replacement; a resampled battle keeps the mean weight of its cell.
    """
    flat = pairs.counts.ravel()
    nonzero = np.flatnonzero(flat)
    battles = round(float(flat.sum()))
    draws = rng.multinomial(battles, flat[nonzero] / flat[nonzero].sum(), size=rounds)
    mean_weight = pairs.weights.ravel()[nonzero] / flat[nonzero]
    cells = np.zeros((rounds, flat.size))
    cells[:, nonzero] = draws * mean_weight
    return cells.reshape(rounds, pairs.n_pairs, 3)


def bootstrap_bradley_terry(pairs: PairCounts, strengths: NDArray[np.float64], *, rounds: int = 1000,
                            seed: int = 0, ridge: float = 0.0, workers: int = 1,
                            progress: Progress | None = None) -> BootstrapResult:
    """Bootstrap Bradley–Terry strengths (ties as half), vectorised over replicates.

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

    def block(size: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], int]:
        cells = resample_cells(pairs, size, rng)
        return fit_bradley_terry_batch(pairs, cells.sum(axis=2), cells @ COLUMN_SCORE, strengths, ridge=ridge)

    return _run_blocks(block, rounds, seed, workers, progress)


def bootstrap_refit(pairs: PairCounts, refit: Refit, *, rounds: int = 1000, seed: int = 0, workers: int = 1,
                    progress: Progress | None = None) -> BootstrapResult:
    """Bootstrap any model fitted on pair counts, one replicate at a time (e.g. Davidson)."""

    def block(size: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], int]:
        cells = resample_cells(pairs, size, rng)
        return np.stack([refit(c) for c in cells]), 0

    return _run_blocks(block, rounds, seed, workers, progress)


def _run_blocks(block: Callable[[int, np.random.Generator], tuple[NDArray[np.float64], int]], rounds: int,
                seed: int, workers: int, progress: Progress | None) -> BootstrapResult:
    sizes = [min(BLOCK, rounds - start) for start in range(0, rounds, BLOCK)]
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    results: list[tuple[NDArray[np.float64], int]] = []
    done = 0

    def report(result: tuple[NDArray[np.float64], int]) -> None:
        nonlocal done
        results.append(result)
        done += len(result[0])
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
        return BootstrapResult(np.zeros((0, 0)), 0)
    return BootstrapResult(np.concatenate([r[0] for r in results]), sum(r[1] for r in results))


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
    totals, _ = pair_totals(pairs)
    p = 1.0 / (1.0 + np.exp(-(strengths[pairs.first] - strengths[pairs.second])))
    meat_w = pairs.weights_sq @ COLUMN_SCORE**2 - 2 * p * (pairs.weights_sq @ COLUMN_SCORE)
    meat_w += p * p * pairs.weights_sq.sum(axis=1)
    bread = laplacian(pairs.first, pairs.second, totals * p * (1 - p), n) + ridge * np.eye(n)
    meat = laplacian(pairs.first, pairs.second, meat_w, n)
    return sandwich_from_parts(bread, meat, n)


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


def normal_intervals(center: NDArray[np.float64], covariance: NDArray[np.float64], z: float = Z_95
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Symmetric intervals ``center ± z·sqrt(diag(covariance))``."""
    half = z * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return center - half, center + half


def percentile_intervals(samples: NDArray[np.float64], level: float = 0.95
                         ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-column percentile intervals of bootstrap samples, shape ``(rounds, n_models)``."""
    tail = 50.0 * (1.0 - level)
    lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return lower, upper


def rank_upper_bound(lower: NDArray[np.float64], upper: NDArray[np.float64]) -> NDArray[np.int64]:
    """Rank (UB): 1 + the number of models whose lower bound is above this model's upper bound."""
    order = np.sort(lower)
    above = len(lower) - np.searchsorted(order, upper, side="right")
    return (1 + above).astype(np.int64)
