"""Command line: ``python -m ratings BATTLES_FILE [options]`` prints the leaderboard.

Diagnostics (skipped records, notes about the data, the progress bar) go to standard error, so
standard output holds only the table, CSV or JSON.

``--method NAME`` picks a preset of :data:`ratings.leaderboard.METHODS` (the interval method and the
reweighting); ``--ci`` and ``--reweight`` set them one by one. Given with ``--method``, they must
agree with the preset, or the command stops with an error rather than guess which one was meant.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ratings.data import Problem, load_battles
from ratings.leaderboard import CI_METHODS, METHODS, TIE_MODELS, Leaderboard, compute_leaderboard
from ratings.lmarena import MIN_PAIR_COUNT, REWEIGHTS
from ratings.progress import ProgressBar

COLUMNS = ("model", "rating", "lower", "upper", "rank_ub", "battles", "wins", "losses", "ties")
MAX_PROBLEMS_SHOWN = 20


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m ratings``."""
    parser = argparse.ArgumentParser(
        prog="python -m ratings",
        description="Bradley–Terry leaderboard with confidence intervals from a FastChat-format battle file "
        "(JSON list, JSON lines or CSV with model_a, model_b, winner).",
    )
    parser.add_argument("battles_file", help="battle file: .json, .jsonl or .csv")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    parser.add_argument("-o", "--output", help="write to this file instead of standard output")
    parser.add_argument("--method", choices=tuple(METHODS),
                        help="a method preset: bootstrap (the default: --ci bootstrap --reweight none) or lmarena "
                        "(LMArena's method since July 2025: --ci sandwich --reweight pairs)")
    parser.add_argument("--ci", choices=CI_METHODS, default=None,
                        help="confidence interval method (default bootstrap, or the --method preset's)")
    parser.add_argument("--reweight", choices=REWEIGHTS, default=None,
                        help=f"none: every battle weighs the same (default); pairs: each battle weighted by "
                        f"1/max(battles of its pair, {MIN_PAIR_COUNT}), as LMArena does")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--anchor", metavar="MODEL=RATING", type=_anchor,
                        help="pin one model's rating instead of centring the mean at 1000")
    parser.add_argument("--tie-model", choices=TIE_MODELS, default="half",
                        help="ties count half a win each way, or Davidson's tie parameter")
    parser.add_argument("--min-battles", type=int, default=0, help="leave out models with fewer battles")
    parser.add_argument("--min-rank-battles", type=int, default=0,
                        help="fit models with fewer battles but leave them unranked (rank_ub empty, listed last)")
    parser.add_argument("--style-control", action="store_true",
                        help="control for answer length and Markdown (needs FastChat conv_metadata)")
    parser.add_argument("--workers", type=int, default=None, help="bootstrap threads (results do not depend on it)")
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 no usable battles or bad options)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        ci, reweight = resolve_method(args.method, args.ci, args.reweight)
    except ValueError as error:
        print(f"error: {error}", file=err)
        return 1
    try:
        battles, problems = load_battles(args.battles_file)
    except (OSError, ValueError) as error:
        print(f"error: {args.battles_file}: {error}", file=err)
        return 1
    _report_problems(problems, args.battles_file, err)
    if len(battles) == 0:
        print("error: no usable battles", file=err)
        return 1
    show_progress = not args.no_progress and err.isatty() and ci == "bootstrap"
    try:
        board = compute_leaderboard(
            battles, ci=ci, reweight=reweight, rounds=args.rounds, seed=args.seed, anchor=args.anchor, tie_model=args.tie_model,
            min_battles=args.min_battles, min_rank_battles=args.min_rank_battles, style_control=args.style_control,
            workers=args.workers,
            progress=ProgressBar(err, "bootstrap") if show_progress else None,
        )
    except ValueError as error:
        print(f"error: {error}", file=err)
        return 1
    if board.metadata.dropped_models:
        print(f"note: left out with fewer than {args.min_battles} battles: {', '.join(board.metadata.dropped_models)}",
              file=err)
    for note in board.metadata.notes:
        print(f"note: {note}", file=err)
    text = render(board, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        out.write(text)
    return 0


def resolve_method(method: str | None, ci: str | None, reweight: str | None) -> tuple[str, str]:
    """The interval method and the reweighting from ``--method``, ``--ci`` and ``--reweight``.

    Without ``--method`` each option takes its value or its default (``bootstrap``, ``none``).
    With it, the preset decides; ``--ci`` or ``--reweight`` given as well must say the same
    (``ValueError`` otherwise).
    """
    if method is None:
        return ci or METHODS["bootstrap"]["ci"], reweight or METHODS["bootstrap"]["reweight"]
    preset = METHODS[method]
    for option, given in (("ci", ci), ("reweight", reweight)):
        if given is not None and given != preset[option]:
            raise ValueError(f"--method {method} means --ci {preset['ci']} --reweight {preset['reweight']}; "
                             f"it conflicts with --{option} {given} (drop one of them)")
    return preset["ci"], preset["reweight"]


def method_name(ci: str, reweight: str) -> str | None:
    """The preset of :data:`ratings.leaderboard.METHODS` with this interval method and reweighting, if any."""
    return next((name for name, preset in METHODS.items() if preset == {"ci": ci, "reweight": reweight}), None)


def render(board: Leaderboard, output_format: str) -> str:
    """The leaderboard as ``table``, ``csv`` or ``json`` text."""
    if output_format == "json":
        return json.dumps(board.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in board.rows:
            writer.writerow([row.model, repr(row.rating), repr(row.lower), repr(row.upper),
                             "" if row.rank_ub is None else row.rank_ub,
                             row.battles, row.wins, row.losses, row.ties])
        return buffer.getvalue()
    return _table(board)


def _table(board: Leaderboard) -> str:
    width = max([len("model"), *(len(row.model) for row in board.rows)])
    lines = [f"{'rank':>4}  {'model':<{width}}  {'rating':>7}  {'95% CI':>17}  {'battles':>7}  "
             f"{'wins':>6}  {'losses':>6}  {'ties':>6}  flags"]
    for row in board.rows:
        interval = f"{row.lower:7.1f} – {row.upper:7.1f}"
        rank = "–" if row.rank_ub is None else str(row.rank_ub)
        lines.append(f"{rank:>4}  {row.model:<{width}}  {row.rating:7.1f}  {interval:>17}  {row.battles:>7}  "
                     f"{row.wins:>6}  {row.losses:>6}  {row.ties:>6}  {','.join(row.flags)}".rstrip())
    meta = board.metadata
    summary = f"{meta.n_battles} battles, {meta.n_models} models; Bradley–Terry ({meta.tie_model} ties)"
    lmarena = method_name(meta.ci, meta.reweight) == "lmarena"
    if lmarena:
        summary += ", LMArena's method (--method lmarena)"
    if meta.ci == "bootstrap":
        summary += f", {meta.rounds}-round bootstrap, seed {meta.seed}"
    elif meta.ci == "sandwich":
        summary += ", sandwich intervals"
    if meta.reweight == "pairs":
        summary += f", battles weighted by 1/max(pair count, {MIN_PAIR_COUNT})"
    lines.append(summary)
    lines.extend(f"{p.name} = {p.value:.4f} [{p.lower:.4f}, {p.upper:.4f}]" for p in board.parameters)
    return "\n".join(lines) + "\n"


def _anchor(text: str) -> tuple[str, float]:
    name, sep, rating = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(rating)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL=RATING, got {text!r}") from None


def _report_problems(problems: list[Problem], path: str, err: TextIO) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"{path}:{problem.line}: skipped: {problem.reason}", file=err)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"{path}: {len(problems) - MAX_PROBLEMS_SHOWN} more records skipped", file=err)
