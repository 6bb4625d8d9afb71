"""Benchmark of the ratings engine on simulated arena-scale data.

Run from the repository root (``-m`` keeps this file from shadowing the ``ratings`` package)::

    OMP_NUM_THREADS=1 python -m bench.ratings

It simulates battles among models with skewed pair popularity (seeded), then times, as medians
of several runs in one process: aggregation, the exact fit, sandwich intervals, the bootstrap
(one and several threads), the whole leaderboard, and a naive baseline measured in the same run:
a per-battle L-BFGS fit without aggregation (FastChat's approach, tolerance 1e-6) and per-battle
bootstrap rounds. Peak memory is measured in a separate, untimed pass with ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

if not __package__:  # run as a script: put the repository root first, not this directory
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from scipy.optimize import minimize

from ratings.aggregate import aggregate
from ratings.bradley_terry import ELO_PER_NAT, fit_bradley_terry
from ratings.data import Battles
from ratings.elo import online_elo
from ratings.intervals import bootstrap_bradley_terry, percentile_intervals, sandwich_bradley_terry
from ratings.leaderboard import compute_leaderboard
from ratings.outcomes import SCORE_A


def simulate(n_battles: int, n_models: int, seed: int) -> tuple[Battles, NDArray[np.float64]]:
    """Battles with Zipf-like model popularity (pair popularity ∝ product), 25% ties, 5% both bad."""
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0.0, 1.0, n_models)
    popularity = 1.0 / np.arange(1, n_models + 1) ** 1.1
    popularity /= popularity.sum()
    a = rng.choice(n_models, n_battles, p=popularity)
    b = rng.choice(n_models, n_battles, p=popularity)
    clash = a == b
    while clash.any():
        b[clash] = rng.choice(n_models, int(clash.sum()), p=popularity)
        clash = a == b
    p_a = 1.0 / (1.0 + np.exp(strengths[b] - strengths[a]))
    outcome = np.where(rng.random(n_battles) < p_a, 0, 1).astype(np.int8)
    draw = rng.random(n_battles)
    outcome[draw < 0.30] = 2
    outcome[draw < 0.05] = 3
    names = [f"model-{i:03d}" for i in range(n_models)]
    return Battles(a.astype(np.int64), b.astype(np.int64), outcome, names), strengths


def timed(function: Callable[[], Any], repeats: int) -> tuple[str, Any]:
    """``median wall (min wall; median CPU)`` over ``repeats`` runs, and the last result.

    CPU time counts every thread of this process, so on a shared machine it shows the work done
    even when other processes stretch the wall time.
    """
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return f"{statistics.median(walls):.3f} s ({min(walls):.3f}; CPU {statistics.median(cpus):.3f})", result


def peak_mib(function: Callable[[], Any]) -> float:
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def naive_fit(battles: Battles, weights: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Per-battle L-BFGS on the ties-as-half likelihood, as FastChat's rating_systems does after
    its aggregation step; gradient tolerance 1e-6, at most 100 iterations."""
    a, b = battles.model_a, battles.model_b
    y = SCORE_A[battles.outcome]
    w = np.ones(len(a)) if weights is None else weights
    n = battles.n_models

    def loss(r: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        d = r[a] - r[b]
        value = float(np.sum(w * (y * np.logaddexp(0, -d) + (1 - y) * np.logaddexp(0, d))))
        residual = w * (1 / (1 + np.exp(-d)) - y)
        return value, (np.bincount(a, residual, n) - np.bincount(b, residual, n)).astype(np.float64)

    result = minimize(loss, np.zeros(n), jac=True, method="L-BFGS-B", options={"gtol": 1e-6, "maxiter": 100})
    return np.asarray(result.x - result.x.mean())


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    battles, _ = simulate(args.battles, args.models, args.seed)
    pairs = aggregate(battles)
    fit = fit_bradley_terry(pairs)
    rows: list[tuple[str, str]] = [("battles / models / pairs met", f"{len(battles):,} / {args.models} / "
                                                                     f"{pairs.n_pairs:,}")]

    def bootstrap(workers: int) -> Callable[[], Any]:
        return lambda: percentile_intervals(bootstrap_bradley_terry(
            pairs, fit.strengths, rounds=args.rounds, seed=args.seed, workers=workers).samples)

    def end_to_end(workers: int) -> Callable[[], Any]:
        def go() -> Any:
            counts = aggregate(battles)
            start = fit_bradley_terry(counts)
            return bootstrap_bradley_terry(counts, start.strengths, rounds=args.rounds, seed=args.seed,
                                           workers=workers)
        return go

    stages: list[tuple[str, Callable[[], Any], int]] = [
        ("aggregation", lambda: aggregate(battles), args.repeats),
        ("fit (exact Newton on pair counts)", lambda: fit_bradley_terry(pairs), args.repeats),
        ("sandwich intervals", lambda: sandwich_bradley_terry(pairs, fit.strengths), args.repeats),
        (f"bootstrap intervals, {args.rounds} rounds, 1 thread", bootstrap(1), args.repeats),
        (f"bootstrap intervals, {args.rounds} rounds, {args.workers} threads", bootstrap(args.workers), args.repeats),
        (f"aggregation + fit + {args.rounds}-round bootstrap, 1 thread", end_to_end(1), args.repeats),
        (f"aggregation + fit + {args.rounds}-round bootstrap, {args.workers} threads", end_to_end(args.workers),
         args.repeats),
        ("online Elo (Python loop)", lambda: online_elo(battles), 1),
        (f"compute_leaderboard (bootstrap, {args.workers} threads, no online Elo)",
         lambda: compute_leaderboard(battles, rounds=args.rounds, seed=args.seed, workers=args.workers, elo_k=None),
         1),
    ]
    for label, function, repeats in stages:
        rows.append((label, timed(function, repeats)[0]))
    rows.extend(baseline(args, battles, fit.strengths))
    fit_peak = peak_mib(lambda: fit_bradley_terry(aggregate(battles)))
    rows.append(("peak traced memory: aggregation + fit", f"{fit_peak:.0f} MiB"))
    rows.append((f"peak traced memory: {args.rounds}-round bootstrap, 1 thread", f"{peak_mib(bootstrap(1)):.0f} MiB"))
    rows.append(("process max RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"))
    return rows


def baseline(args: argparse.Namespace, battles: Battles, exact: NDArray[np.float64]) -> list[tuple[str, str]]:
    """The naive approach in the same process: no aggregation, per-battle L-BFGS."""
    start = time.perf_counter()
    naive = naive_fit(battles)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    round_times = []
    for _ in range(args.baseline_rounds):
        start = time.perf_counter()
        naive_fit(battles, np.bincount(rng.integers(0, len(battles), len(battles)), minlength=len(battles)).astype(np.float64))
        round_times.append(time.perf_counter() - start)
    per_round = statistics.median(round_times)
    error = float(np.abs(ELO_PER_NAT * (naive - exact)).max())
    return [
        ("baseline: per-battle L-BFGS fit (gtol 1e-6)", f"{seconds:.3f} s"),
        ("baseline: largest rating error of that fit", f"{error:.4f} Elo points"),
        (f"baseline: one per-battle bootstrap round (median of {args.baseline_rounds})", f"{per_round:.3f} s"),
        (f"baseline: {args.rounds}-round bootstrap, extrapolated", f"{per_round * args.rounds:.0f} s"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--models", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="runs per timed stage (median reported)")
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run(args)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("| stage | median wall (min; median CPU) |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
