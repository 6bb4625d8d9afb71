"""Golden values from arena-rank, LMArena's own engine, for tests/ratings/test_arena_rank_golden.py.

arena-rank (https://github.com/lmarena/arena-rank, Apache-2.0) is not a dependency of this project:
run this script in a separate environment that holds it, never in ``.venv``. From the repository
root::

    python3.11 -m venv /tmp/ar && /tmp/ar/bin/pip install arena-rank==0.1.1
    OMP_NUM_THREADS=1 /tmp/ar/bin/python bench/arena_rank_golden.py

It writes, under ``data/reference/``:

- ``arena_rank_llmfao_sandwich.csv``, ``arena_rank_sparse_sandwich.csv``: LMArena's current method
  (``PairDataset.from_pandas(reweighted=True)``: each battle weighted by 1/max(pair count, 50);
  ``BradleyTerry.compute_ratings_and_cis(ci_method="sandwich")``) on ``data/llmfao_battles.json``
  and on the simulated sparse arena;
- ``arena_rank_sparse_bootstrap.csv``: arena-rank's bootstrap (no reweighting, 1000 rounds,
  seed 42, its own ``jax.random`` multinomial draws) on the simulated sparse arena.

Every file starts with ``#`` comment lines: the versions of arena-rank, jax, jaxlib, optax,
NumPy and pandas, the settings, and this command.

The simulated arena is read from ``data/reference/sparse_arena_battles.csv`` (aggregated:
``model_a, model_b, winner, count``), so that the golden values do not depend on NumPy's random
streams. ``--resimulate`` rewrites that file first, from
``ratings.simulation.simulate_arena(n_models=120, n_battles=20000, seed=0, tie_rate=0.15,
both_bad_rate=0.05)``; that is the only code of this repository the script imports, and it needs
NumPy only.

One setting differs from arena-rank's defaults: the L-BFGS stopping rule. With its defaults
(``gtol = ftol = 1e-9`` on the loss divided by the total weight) L-BFGS stops while the ratings are
still up to 0.015 Elo points (LLMFAO) and 0.35 points (the sparse arena) from the optimum, which
is no basis for a comparison at 1e-4 points. The golden values are computed with ``gtol=1e-15,
ftol=0`` (everything else default, ``max_iter`` 1000 included), which reaches the optimum; the
columns ``*_default_tol`` hold what the defaults give, for the record.

The bootstrap's replicates are fitted with arena-rank's own stopping rule, as LMArena runs it
(``--bootstrap-tolerances tight`` for the tight one); its ``rating`` column is the exact fit.
arena-rank keeps every replicate's plain mean of all models at 1000: in a replicate where a model
with a handful of battles never wins (or never loses), its rating runs off for as long as L-BFGS
lets it, and everyone else's shifts by that amount over the number of models. On the sparse arena
this skews arena-rank's plain bounds of well-measured models by up to about 20 points, and how much
depends on the stopping rule. The file therefore also holds, from the same replicates, the bounds
of each rating minus the most-played model's (``*_vs_reference``), which no common shift moves:
that is what tests/ratings/test_arena_rank_bootstrap.py compares with our bootstrap.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import platform
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "data" / "reference"
LLMFAO = REPO / "data" / "llmfao_battles.json"
SPARSE_BATTLES = REFERENCE / "sparse_arena_battles.csv"
SIMULATION = {"n_models": 120, "n_battles": 20000, "seed": 0, "tie_rate": 0.15, "both_bad_rate": 0.05}
TIGHT = {"gtol": 1e-15, "ftol": 0.0}
BOOTSTRAP_SEED = 42
BOOTSTRAP_ROUNDS = 1000
COMMAND = "OMP_NUM_THREADS=1 /tmp/ar/bin/python bench/arena_rank_golden.py"
WINNER = {0: "model_a", 1: "model_b", 2: "tie", 3: "both_bad"}
"""Our outcome codes as arena-rank's default_outcome_map reads them (tie and both_bad are 0.5 there)."""


def main(argv: list[str] | None = None) -> int:
    """Write the golden files; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resimulate", action="store_true", help=f"rewrite {SPARSE_BATTLES.name} first")
    parser.add_argument("--skip-bootstrap", action="store_true", help="leave the bootstrap file as it is")
    parser.add_argument("--rounds", type=int, default=BOOTSTRAP_ROUNDS, help="bootstrap rounds (default 1000)")
    parser.add_argument("--jobs", type=int, default=-1, help="bootstrap processes (arena-rank's n_jobs; -1: all CPUs)")
    parser.add_argument("--bootstrap-tolerances", choices=("tight", "default"), default="default",
                        help="L-BFGS stopping rule of the bootstrap's fits: arena-rank's defaults (gtol = ftol = "
                        "1e-9; the stored file, what LMArena runs) or tight (gtol=1e-15, ftol=0)")
    args = parser.parse_args(argv)
    if args.resimulate:
        simulate(SPARSE_BATTLES)
    llmfao = llmfao_frame()
    sparse = sparse_frame(SPARSE_BATTLES)
    sandwich(llmfao, REFERENCE / "arena_rank_llmfao_sandwich.csv", "data/llmfao_battles.json")
    sandwich(sparse, REFERENCE / "arena_rank_sparse_sandwich.csv", f"data/reference/{SPARSE_BATTLES.name}")
    if not args.skip_bootstrap:
        bootstrap(sparse, REFERENCE / "arena_rank_sparse_bootstrap.csv", f"data/reference/{SPARSE_BATTLES.name}",
                  rounds=args.rounds, jobs=args.jobs, tight=args.bootstrap_tolerances == "tight")
    return 0


def simulate(path: Path) -> None:
    """Write the simulated sparse arena as aggregated counts, one row per (model_a, model_b, winner)."""
    sys.path.insert(0, str(REPO))
    from ratings.simulation import simulate_arena

    arena = simulate_arena(**SIMULATION)  # type: ignore[arg-type]
    b = arena.battles
    cells = Counter(zip(b.model_a.tolist(), b.model_b.tolist(), b.outcome.tolist(), strict=True))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["model_a", "model_b", "winner", "count"])
        for (a, other, outcome), count in sorted(cells.items()):
            writer.writerow([b.names[a], b.names[other], WINNER[outcome], count])
    print(f"wrote {path.relative_to(REPO)}: {len(cells)} rows, {len(b)} battles")


def llmfao_frame() -> Any:
    """The LLMFAO battles, one row each, with the columns arena-rank reads."""
    import pandas as pd

    records = json.loads(LLMFAO.read_text(encoding="utf-8"))
    return pd.DataFrame({k: [r[k] for r in records] for k in ("model_a", "model_b", "winner")})


def sparse_frame(path: Path) -> Any:
    """The simulated battles, expanded from their counts to one row per battle."""
    import pandas as pd

    cells = pd.read_csv(path)
    return cells.loc[cells.index.repeat(cells["count"])].reset_index(drop=True)[["model_a", "model_b", "winner"]]


def versions() -> list[str]:
    """Comment lines naming what computed the file."""
    found = {name: metadata.version(name) for name in ("arena-rank", "jax", "jaxlib", "optax", "numpy", "pandas")}
    return [", ".join(f"{name} {version}" for name, version in found.items()) + f", Python {platform.python_version()}",
            f"command (from the repository root): {COMMAND}"]


def sandwich(frame: Any, path: Path, source: str) -> None:
    """LMArena's method on ``frame``: pair reweighting and sandwich intervals, at tight and default tolerances."""
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    dataset = PairDataset.from_pandas(frame, reweighted=True)
    results, gradient = {}, math.nan
    for label, options in (("tight", TIGHT), ("default", {})):
        model = BradleyTerry(n_competitors=len(dataset.competitors), **options)
        results[label] = model.compute_ratings_and_cis(dataset, ci_method="sandwich")
        if label == "tight":
            gradient = largest_gradient(model, dataset)
    tight, default = results["tight"], results["default"]
    header = [
        f"arena-rank golden values: LMArena's method (sandwich intervals, battles weighted by 1/max(pair count, 50)) "
        f"on {source}, {len(frame)} battles, {len(dataset.competitors)} models",
        "PairDataset.from_pandas(df, reweighted=True, min_pair_count=50), default outcome map; "
        f"BradleyTerry(gtol={TIGHT['gtol']:g}, ftol={TIGHT['ftol']:g}, other settings default: hessian_reg 1e-5, "
        "max_iter 1000, scale 400, base 10, init_rating 1000); compute_ratings_and_cis(ci_method='sandwich', "
        "significance_level=0.05)",
        f"largest |gradient| of arena-rank's normalised loss at the tight fit: {gradient:.3g}",
        "rating, lower, upper, variance (Elo points², arena-rank's 'variances'): the tight fit; *_default_tol: "
        "the same with arena-rank's default gtol = ftol = 1e-9",
        *versions(),
    ]
    columns = ["model", "rating", "lower", "upper", "variance", "rating_default_tol", "lower_default_tol",
               "upper_default_tol"]
    rows = [[name, *(tight[k][i] for k in ("ratings", "rating_lower", "rating_upper", "variances")),
             *(default[k][i] for k in ("ratings", "rating_lower", "rating_upper"))]
            for i, name in enumerate(dataset.competitors)]
    write(path, header, columns, rows)
    shift = float(np.max(np.abs(np.asarray(tight["ratings"]) - np.asarray(default["ratings"]))))
    print(f"wrote {path.relative_to(REPO)}: {len(rows)} models; default tolerances move ratings by up to {shift:.3g}")


def bootstrap(frame: Any, path: Path, source: str, *, rounds: int, jobs: int, tight: bool = False) -> None:
    """arena-rank's bootstrap without reweighting: ``rounds`` multinomial replicates, seed 42.

    Besides arena-rank's own bounds it records, from the same replicates, the bounds of each model's
    rating minus the most-played model's: those do not depend on the gauge in which the replicates
    were fitted (arena-rank keeps each replicate's plain mean at 1000, so a model that runs off in a
    replicate drags everyone's plain bounds with it), and are what a comparison can rest on. The
    replicates are read where arena-rank takes their quantiles.
    """
    import jax.numpy as jnp
    import numpy as np
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    dataset = PairDataset.from_pandas(frame, reweighted=False)
    exact = BradleyTerry(n_competitors=len(dataset.competitors), **TIGHT)
    exact.fit(dataset)
    exact_ratings = np.asarray(exact.params["ratings"]) * exact.alpha + exact.init_rating
    options: dict[str, float] = TIGHT if tight else {}
    model = BradleyTerry(n_competitors=len(dataset.competitors), **options)
    replicates: list[Any] = []
    quantile = jnp.quantile

    def capture(a: Any, q: Any, *args: Any, **kwargs: Any) -> Any:
        if not replicates:
            replicates.append(np.asarray(a))
        return quantile(a, q, *args, **kwargs)

    jnp.quantile = capture  # arena_rank.models.bradley_terry calls jnp.quantile on the scaled replicates
    # arena-rank fits replicates in a multiprocessing.Pool; forked after jax has started its threads, the
    # workers deadlock, so they are spawned.
    multiprocessing.set_start_method("spawn", force=True)
    start = time.perf_counter()
    try:
        result = model.compute_ratings_and_cis(dataset, ci_method="bootstrap", num_bootstrap=rounds,
                                               seed=BOOTSTRAP_SEED, n_jobs=jobs)
    finally:
        jnp.quantile = quantile
    seconds = time.perf_counter() - start
    samples = replicates[0]
    played = np.zeros(len(dataset.competitors))
    np.add.at(played, np.asarray(dataset.pairs)[:, 0], np.asarray(dataset.counts))
    np.add.at(played, np.asarray(dataset.pairs)[:, 1], np.asarray(dataset.counts))
    reference = int(np.argmax(played))
    relative = np.quantile(samples - samples[:, [reference]], [0.025, 0.975], axis=0)
    header = [
        f"arena-rank golden values: bootstrap intervals, no reweighting, on {source}, {len(frame)} battles, "
        f"{len(dataset.competitors)} models",
        "PairDataset.from_pandas(df, reweighted=False); "
        + (f"BradleyTerry(gtol={TIGHT['gtol']:g}, ftol={TIGHT['ftol']:g}, other settings default); " if tight
           else "BradleyTerry() with its default settings (gtol = ftol = 1e-9); ")
        + f"compute_ratings_and_cis(ci_method='bootstrap', num_bootstrap={rounds}, seed={BOOTSTRAP_SEED}, "
        "significance_level=0.05): counts drawn by jax.random.multinomial(PRNGKey(seed)), each replicate refitted "
        "from zero ratings",
        f"rating: the exact full-data fit (gtol={TIGHT['gtol']:g}, ftol={TIGHT['ftol']:g}); lower, upper: arena-rank's "
        "bounds, jnp.quantile (linear) at 2.5% and 97.5% of the replicates; variance: their variance (Elo points²)",
        f"lower_vs_reference, upper_vs_reference: the same quantiles (numpy, linear) of rating minus the rating of "
        f"the most-played model, reference {dataset.competitors[reference]}, in the same replicates",
        f"{seconds:.0f} s",
        *versions(),
    ]
    rows = [[name, exact_ratings[i], *(result[k][i] for k in ("rating_lower", "rating_upper", "variances")),
             relative[0, i], relative[1, i]]
            for i, name in enumerate(dataset.competitors)]
    write(path, header, ["model", "rating", "lower", "upper", "variance", "lower_vs_reference", "upper_vs_reference"],
          rows)
    print(f"wrote {path.relative_to(REPO)}: {len(rows)} models, {rounds} rounds in {seconds:.0f} s")


def largest_gradient(model: Any, dataset: Any) -> float:
    """The largest absolute gradient of arena-rank's own (normalised) loss at the fitted ratings."""
    import jax

    grad = jax.grad(model.loss_function)(model.params, dataset.as_dict())["ratings"]
    return float(np.max(np.abs(np.asarray(grad))))


def write(path: Path, header: list[str], columns: list[str], rows: list[list[Any]]) -> None:
    """A CSV after ``#`` comment lines; floats as ``repr`` (shortest round-trip form)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        for line in header:
            handle.write(f"# {line}\n")
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([value if isinstance(value, str) else repr(float(value)) for value in row])


if __name__ == "__main__":
    sys.exit(main())
