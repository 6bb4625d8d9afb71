"""Benchmark of the ratings engine on simulated arena-scale data.

Run from the repository root (``-m`` keeps this file from shadowing the ``ratings`` package)::

    OMP_NUM_THREADS=1 python -m bench.ratings

It simulates battles among models with skewed pair popularity (seeded), then times, as medians
of several runs in one process: aggregation, the exact fit, sandwich intervals, the bootstrap
(one and several threads), the whole leaderboard, and a naive baseline measured in the same run:
a per-battle L-BFGS fit without aggregation (FastChat's approach, tolerance 1e-6) and per-battle
bootstrap rounds. Peak memory is measured in a separate, untimed pass with ``tracemalloc``.

``--targets`` times instead the shapes of LMArena's real leaderboard against the targets of
docs/benchmarks.md (fit plus a 1000-round bootstrap): sparse arenas of 300 and 1,000 models with
50,000 battles (:func:`ratings.simulation.simulate_arena`, 30% ties, 5% both bad), the Zipf shape
above at 1,000 models and 50,000 battles, and 2,000,000 battles among 150 models. With
``--peers PYTHON`` it also times, in the same run and on the same battles (written to a CSV), the
peers' bootstraps through ``bench/peers.py`` under that interpreter: FastChat's
``compute_bootstrap_bt`` (``--fastchat PATH`` to its ``rating_systems.py``) and arena-rank's, and
reports ratios against ours at the same number of rounds::

    OMP_NUM_THREADS=1 python -m bench.ratings --targets --peers /tmp/ar/bin/python \
        --fastchat /tmp/fastchat/rating_systems.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
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
from ratings.outcomes import SCORE_A, TO_WINNER, Outcome
from ratings.simulation import simulate_arena


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


TARGET_CASES: tuple[tuple[str, str, int, int, float], ...] = (
    # label, shape, models, battles, target seconds (fit + 1000-round bootstrap, 2 cores)
    ("sparse arena, 300 models", "arena", 300, 50_000, 2.0),
    ("sparse arena, 1,000 models", "arena", 1000, 50_000, 5.0),
    ("Zipf popularity, 1,000 models", "zipf", 1000, 50_000, 5.0),
    ("dense, 150 models", "zipf", 150, 2_000_000, 2.0),
)


def case_battles(shape: str, models: int, n_battles: int, seed: int) -> Battles:
    if shape == "arena":
        return simulate_arena(models, n_battles, seed, tie_rate=0.30, both_bad_rate=0.05).battles
    return simulate(n_battles, models, seed)[0]


def fit_and_bootstrap(battles: Battles, rounds: int, seed: int, workers: int) -> Callable[[], Any]:
    """What the targets time: the leaderboard's fit and bootstrap (no online Elo), from the battles."""
    return lambda: compute_leaderboard(battles, rounds=rounds, seed=seed, workers=workers, elo_k=None)


def write_fastchat_csv(battles: Battles, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model_a", "model_b", "winner"])
        names = battles.names
        for a, b, o in zip(battles.model_a.tolist(), battles.model_b.tolist(), battles.outcome.tolist(), strict=True):
            writer.writerow([names[a], names[b], TO_WINNER[Outcome(o)]])


def run_peers(args: argparse.Namespace, battles: Battles) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "battles.csv"
        write_fastchat_csv(battles, path)
        command = [args.peers, str(Path(__file__).with_name("peers.py")), str(path), "--rounds", str(args.peer_rounds),
                   "--arena-rank-rounds", str(args.arena_rank_rounds), "--workers", str(args.workers)]
        if args.fastchat:
            command += ["--fastchat", args.fastchat]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise SystemExit(f"bench/peers.py failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def targets(args: argparse.Namespace) -> list[str]:
    lines = [f"| case | battles / models / pairs met | ours: fit + {args.rounds}-round bootstrap, {args.workers} threads, "
             "median wall (min; CPU) | target |"]
    lines.append("|---|---|---|---|")
    peer_lines: list[str] = []
    for label, shape, models, n_battles, target in TARGET_CASES:
        battles = case_battles(shape, models, n_battles, args.seed)
        pairs = aggregate(battles)
        text, board = timed(fit_and_bootstrap(battles, args.rounds, args.seed, args.workers), args.repeats)
        median = float(text.split(" ")[0])
        verdict = "met" if median <= target else "**not met**"
        lines.append(f"| {label} | {len(battles):,} / {models} / {pairs.n_pairs:,} | {text} | ≤ {target:g} s, {verdict} |")
        meta = board.metadata
        lines.append(f"|  | partial replicates {meta.bootstrap_partial}, unconverged {meta.bootstrap_unconverged}, "
                     f"well posed {meta.well_posed} | | |")
        if args.peers:
            ours_peer = timed(fit_and_bootstrap(battles, args.peer_rounds, args.seed, args.workers), args.repeats)[0]
            ours_ar = timed(fit_and_bootstrap(battles, args.arena_rank_rounds, args.seed, args.workers), args.repeats)[0]
            peers = run_peers(args, battles)
            peer_lines.append(_peer_row(label, "FastChat compute_bt + compute_bootstrap_bt", args.peer_rounds, ours_peer,
                                        peers.get("fastchat")))
            peer_lines.append(_peer_row(label, "arena-rank fit + bootstrap", args.arena_rank_rounds, ours_ar,
                                        peers.get("arena_rank")))
            versions = "; ".join(str(peers[k]["version"]) for k in ("fastchat", "arena_rank") if k in peers)
            peer_lines.append(f"|  | versions: {versions}; pandas {peers.get('pandas')} | | | |")
    if peer_lines:
        lines += ["", "| case | peer | rounds | ours, median wall (min; CPU) | peer wall | ours / peer |",
                  "|---|---|---|---|---|---|", *peer_lines]
    return lines


def _peer_row(label: str, peer: str, rounds: int, ours: str, result: dict[str, Any] | None) -> str:
    if not result:
        return f"| {label} | {peer} | {rounds} | {ours} | not run | |"
    seconds = float(result["fit_s"]) + float(result["bootstrap_s"])
    mine = float(ours.split(" ")[0])
    return f"| {label} | {peer} | {rounds} | {ours} | {seconds:.2f} s | {mine / seconds:.3f}× |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--models", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="runs per timed stage (median reported)")
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", action="store_true", help="time the target cases of issue 10 instead")
    parser.add_argument("--peers", help="Python with arena-rank (and pandas, tqdm) to time the peers with")
    parser.add_argument("--fastchat", help="FastChat's rating_systems.py, for --peers")
    parser.add_argument("--peer-rounds", type=int, default=100, help="bootstrap rounds for FastChat (and ours beside it)")
    parser.add_argument("--arena-rank-rounds", type=int, default=10,
                        help="bootstrap rounds for arena-rank, which compiles and fits each replicate on its own")
    args = parser.parse_args(argv)
    if args.targets:
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"NumPy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
        print("\n".join(targets(args)))
        return
    rows = run(args)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("| stage | median wall (min; median CPU) |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
