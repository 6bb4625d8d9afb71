"""Time the peers' Bradley–Terry bootstrap on a battles file: FastChat's and arena-rank's.

Run by ``bench/ratings.py --peers PYTHON`` in the same time window as our engine, with an
interpreter that has the peers installed (they are not dependencies of this project)::

    python3.11 -m venv /tmp/ar && /tmp/ar/bin/pip install arena-rank==0.1.1   # brings jax, pandas
    /tmp/ar/bin/pip install tqdm                                              # FastChat's import

FastChat is not on PyPI in a form that installs without its serving stack, so its
``fastchat/serve/monitor/rating_systems.py`` (lm-sys/FastChat; the file is self-contained) is read
from ``--fastchat PATH``, kept outside this repository. This script imports nothing from ours; it
prints one JSON object: seconds per peer and stage, and the peers' versions.

    /tmp/ar/bin/python bench/peers.py battles.csv --rounds 100 --arena-rank-rounds 10 --workers 2 --fastchat PATH
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any


def _fastchat(path: Path, df: Any, rounds: int, workers: int) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("fastchat_rating_systems", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its process pool pickles functions by module name
    spec.loader.exec_module(module)
    start = time.perf_counter()
    module.compute_bt(df)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    module.compute_bootstrap_bt(df, num_round=rounds, num_cpu=workers)
    bootstrap = time.perf_counter() - start
    return {"fit_s": fit, "bootstrap_s": bootstrap, "version": f"rating_systems.py from {path}"}


def _arena_rank(df: Any, rounds: int, workers: int) -> dict[str, Any]:
    import multiprocessing

    # arena-rank's process pool, forked from a process where jax has started its threads, hangs;
    # its workers are started fresh instead (their start-up is part of its time).
    multiprocessing.set_start_method("spawn", force=True)
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    start = time.perf_counter()
    dataset = PairDataset.from_pandas(df)
    model = BradleyTerry(n_competitors=len(dataset.competitors))
    model.fit(dataset)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.compute_ratings_and_cis(dataset, ci_method="bootstrap", num_bootstrap=rounds, n_jobs=workers)
    bootstrap = time.perf_counter() - start
    start = time.perf_counter()
    weighted = PairDataset.from_pandas(df, reweighted=True)
    BradleyTerry(n_competitors=len(weighted.competitors)).compute_ratings_and_cis(weighted, ci_method="sandwich")
    sandwich = time.perf_counter() - start
    return {"fit_s": fit, "bootstrap_s": bootstrap, "lmarena_sandwich_s": sandwich,
            "version": f"arena-rank {importlib.metadata.version('arena-rank')}, "
                       f"jax {importlib.metadata.version('jax')}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("battles", type=Path, help="CSV with model_a, model_b, winner (FastChat spelling)")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--arena-rank-rounds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fastchat", type=Path, help="path to FastChat's rating_systems.py")
    parser.add_argument("--skip-arena-rank", action="store_true")
    args = parser.parse_args(argv)
    import pandas as pd

    df = pd.read_csv(args.battles)
    out: dict[str, Any] = {"python": sys.version.split()[0], "pandas": pd.__version__}
    if args.fastchat:
        out["fastchat"] = _fastchat(args.fastchat, df, args.rounds, args.workers)
    if not args.skip_arena_rank:
        out["arena_rank"] = _arena_rank(df, args.arena_rank_rounds, args.workers)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
