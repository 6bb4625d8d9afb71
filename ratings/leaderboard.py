"""The leaderboard: ratings, intervals, ranks, counts and matrices in one JSON-safe object.

This is the one entry point the web app and the command line call; everything else in the
package is a plain function over arrays that it composes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ratings.aggregate import FIRST_WINS, SECOND_WINS, TIES, PairCounts, aggregate
from ratings.bradley_terry import ELO_PER_NAT
from ratings.data import Battles
from ratings.diagnostics import DEFAULT_RIDGE, WellPosedness, check_well_posed
from ratings.elo import online_elo
from ratings.intervals import (
    BootstrapResult,
    Progress,
    anchor_covariance,
    normal_intervals,
    percentile_intervals,
    rank_upper_bound,
    reference_covariance,
)
from ratings.lmarena import (
    MIN_PAIR_COUNT,
    check_reweight,
    hessian_regularisation,
    reweight_battles,
    sandwich_lmarena,
)
from ratings.matrices import battle_count_matrix, predicted_win_rate_matrix, win_rate_matrix
from ratings.models import FittedModel, fit_model

CI_METHODS = ("bootstrap", "sandwich", "none")
TIE_MODELS = ("half", "davidson")
CENTER = 1000.0

METHODS: dict[str, dict[str, str]] = {
    "bootstrap": {"ci": "bootstrap", "reweight": "none"},
    "lmarena": {"ci": "sandwich", "reweight": "pairs"},
}
"""Named method presets: options of :func:`compute_leaderboard` (``python -m ratings --method NAME``).

``bootstrap``: percentile intervals from bootstrap rounds, every battle weighing the same (this
engine's default). ``lmarena``: LMArena's method since July 2025, as its engine arena-rank computes
it: sandwich intervals, each battle weighted by 1/max(battles of its pair, 50).
"""


@dataclass(frozen=True)
class Row:
    """One model's line on the leaderboard; ratings and bounds on the Elo scale."""

    model: str
    rating: float
    lower: float
    upper: float
    rank_ub: int | None  # None: too few battles to be ranked (``min_rank_battles``)
    battles: int
    wins: int
    losses: int
    ties: int
    online_elo: float | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Parameter:
    """A fitted parameter that is not a model rating (tie parameter, style coefficient)."""

    name: str
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Metadata:
    """How the leaderboard was computed, and what was wrong with the data."""

    method: str
    tie_model: str
    ci: str
    rounds: int
    seed: int
    anchor: tuple[str, float] | None
    min_battles: int
    style_control: bool
    n_battles: int
    n_models: int
    ridge: float
    well_posed: bool
    notes: list[str]
    dropped_models: list[str]
    bootstrap_unconverged: int = 0
    bootstrap_ridged: int = 0
    bootstrap_partial: int = 0
    reweight: str = "none"
    min_rank_battles: int = 0
    scale: str = "Elo: 400 points per factor of 10 in odds"


@dataclass(frozen=True)
class Leaderboard:
    """Rows sorted by rating, metadata, extra parameters and matrices indexed like ``names``."""

    rows: list[Row]
    metadata: Metadata
    parameters: list[Parameter]
    names: list[str]
    battle_counts: NDArray[np.float64]
    win_rates: NDArray[np.float64]
    decisive_win_rates: NDArray[np.float64]
    predicted_win_rates: NDArray[np.float64]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary (NaN becomes ``None``), for snapshots and ``--format json``."""
        return {
            "rows": [_json_safe(asdict(row)) for row in self.rows],
            "metadata": _json_safe(asdict(self.metadata)),
            "parameters": [_json_safe(asdict(p)) for p in self.parameters],
            "names": list(self.names),
            "matrices": {
                "battle_counts": _json_matrix(self.battle_counts),
                "win_rates": _json_matrix(self.win_rates),
                "decisive_win_rates": _json_matrix(self.decisive_win_rates),
                "predicted_win_rates": _json_matrix(self.predicted_win_rates),
            },
        }


def compute_leaderboard(battles: Battles, *, ci: str = "bootstrap", rounds: int = 1000, seed: int = 0,
                        anchor: tuple[str, float] | None = None, tie_model: str = "half", min_battles: int = 0,
                        style_control: bool = False, progress: Progress | None = None,
                        ridge: float | None = None, workers: int | None = None,
                        elo_k: float | None = 4.0, reweight: str = "none", min_rank_battles: int = 0) -> Leaderboard:
    """Compute the Bradley–Terry leaderboard with confidence intervals.

    Parameters
    ----------
    battles
        The battles to rate.
    ci
        ``"bootstrap"`` (percentile intervals over ``rounds`` multinomial replicates of the counts),
        ``"sandwich"`` (robust normal intervals) or ``"none"``.
    rounds, seed
        Bootstrap replicates and seed; the same seed gives bit-for-bit the same intervals.
    anchor
        ``(model name, rating)`` to pin one model; by default ratings average 1000.
    tie_model
        ``"half"``: ties count half a win each way; ``"davidson"``: Davidson's tie parameter.
    min_battles
        Models with fewer battles are left out, with their battles; listed in the metadata.
    style_control
        Fit style coefficients jointly (needs battles with style counts; ties as half only).
    progress
        Called as ``progress(done, total)`` during the bootstrap.
    ridge
        Ridge on natural-log strengths; ``None`` applies :data:`ratings.diagnostics.DEFAULT_RIDGE`
        only when the maximum likelihood estimate does not exist.
    workers
        Bootstrap threads (results do not depend on it); default ``min(4, cpu_count)``.
    elo_k
        K of the online Elo column, or ``None`` to skip it.
    reweight
        ``"none"`` (every battle weighs the same) or ``"pairs"``: each battle weighted by
        ``1 / max(battles of its pair, 50)``, times any weight it carries, as LMArena's arena-rank
        does (:mod:`ratings.lmarena`). The fit is the exact weighted fit; the bootstrap resamples
        battles, which keep their weights; the sandwich (ties as half) regularises the Hessian as
        arena-rank does. With the Davidson model or style control the same weights enter their
        weighted likelihoods and intervals. :data:`METHODS` names the usual combinations.
    min_rank_battles
        Models with fewer battles stay in the fit (their battles inform the others) but are not
        ranked: their row has ``rank_ub`` ``None`` and the flag ``too_few_battles``, they are listed
        after the ranked models, and the ranks of the others count only ranked models. An interval
        from a handful of battles is no basis for "better beyond doubt" either way (one battle
        gives a bootstrap interval of width zero).

    Returns
    -------
    Leaderboard
    """
    _check_options(ci, tie_model, style_control, battles, rounds)
    check_reweight(reweight)
    kept, dropped = _drop_rare_models(battles, min_battles)
    if kept.n_battles == 0:
        raise ValueError("no battles left to rate" + (f" with at least {min_battles} per model" if min_battles else ""))
    if anchor is not None and anchor[0] not in kept.names:
        raise ValueError(f"anchor model {anchor[0]!r} is not on the leaderboard")
    # A pair's battles are all kept or all dropped, so weighting after dropping gives the same weights.
    kept = reweight_battles(kept, reweight)
    pairs = aggregate(kept)
    health = check_well_posed(pairs, kept.names)
    ridge_used = ridge if ridge is not None else (0.0 if health.well_posed else DEFAULT_RIDGE)
    model = fit_model(kept, pairs, tie_model=tie_model, style_control=style_control, ridge=ridge_used)
    if reweight != "none" and tie_model == "half" and not style_control:
        model = _with_lmarena_sandwich(model, pairs, hessian_regularisation(kept), ridge_used)
    anchor_id = None if anchor is None else kept.names.index(anchor[0])
    ratings = _to_elo(model.strengths[None, :], anchor_id, anchor)[0]
    played: NDArray[np.float64] | None = None
    if reweight == "none":
        per_pair = pairs.counts.sum(axis=1)
        played = (np.bincount(pairs.first, per_pair, pairs.n_models)
                  + np.bincount(pairs.second, per_pair, pairs.n_models)).astype(np.float64)
    lower, upper, extra_bounds, boot = _intervals(
        model, ratings, ci, rounds, seed, anchor_id, anchor, workers or min(4, os.cpu_count() or 1), progress, played
    )
    notes, elo = _notes_and_elo(kept, health, ridge_used, boot, elo_k)
    metadata = Metadata(
        method="bradley_terry_style" if style_control else "bradley_terry", tie_model=tie_model, ci=ci,
        rounds=rounds if ci == "bootstrap" else 0, seed=seed, anchor=anchor, min_battles=min_battles,
        style_control=style_control, n_battles=kept.n_battles, n_models=kept.n_models, ridge=ridge_used,
        well_posed=health.well_posed, notes=notes, dropped_models=dropped, bootstrap_unconverged=boot.unconverged,
        bootstrap_ridged=boot.ridged, bootstrap_partial=boot.partial, reweight=reweight,
        min_rank_battles=min_rank_battles,
    )
    parameters = [Parameter(name, float(v), float(lo), float(hi))
                  for name, v, lo, hi in zip(model.extra_names, model.extra_values, *extra_bounds, strict=True)]
    return Leaderboard(
        rows=_rows(kept.names, pairs, ratings, lower, upper, health, elo, min_rank_battles),
        metadata=metadata, parameters=parameters, names=list(kept.names),
        battle_counts=battle_count_matrix(pairs), win_rates=win_rate_matrix(pairs, ties="half"),
        decisive_win_rates=win_rate_matrix(pairs, ties="exclude"),
        predicted_win_rates=predicted_win_rate_matrix(ratings),
    )


def _with_lmarena_sandwich(model: FittedModel, pairs: PairCounts, hessian_reg: float, ridge: float) -> FittedModel:
    strengths = model.strengths
    return replace(model, sandwich=lambda: sandwich_lmarena(pairs, strengths, hessian_reg, ridge))


def describe_method(metadata: Mapping[str, Any]) -> str:
    """One or two plain sentences saying how a leaderboard's intervals were computed, for the page.

    ``metadata`` is a leaderboard's metadata as stored (``Leaderboard.to_dict()["metadata"]``);
    keys missing from older snapshots take their old meaning (``reweight`` ``"none"``).
    """
    ci = metadata.get("ci") or "bootstrap"
    reweight = metadata.get("reweight") or "none"
    weighting = f"battles weighted by 1/max(pair count, {MIN_PAIR_COUNT})"
    if ci == "bootstrap":
        rounds = metadata.get("rounds")
        text = f"95% intervals from {rounds} bootstrap rounds" if rounds else "95% bootstrap intervals"
        text += " (percentiles of refits on battles resampled with replacement)"
        return text + (f", {weighting}, each resampled battle keeping its weight." if reweight == "pairs"
                       else ", every battle weighing the same.")
    if ci == "sandwich":
        if reweight == "pairs":
            return f"95% sandwich (CLT) intervals, {weighting} as LMArena has done since July 2025."
        return "95% sandwich (CLT) intervals, every battle weighing the same."
    if ci == "none":
        return "No confidence intervals were computed" + (f"; {weighting}." if reweight == "pairs" else ".")
    return f"Intervals by {ci}" + (f", {weighting}." if reweight == "pairs" else ".")


def _notes_and_elo(kept: Battles, health: WellPosedness, ridge: float, boot: BootstrapResult,
                   elo_k: float | None) -> tuple[list[str], NDArray[np.float64] | None]:
    notes = list(health.notes)
    if ridge > 0:
        notes.append(f"ridge prior λ = {ridge:g} on natural-log strengths (sd {1 / math.sqrt(ridge):.3g})")
    if boot.ridged:
        notes.append(f"{boot.ridged} bootstrap replicates had a model that never lost or never won; they were "
                     f"fitted with the ridge prior λ = {DEFAULT_RIDGE:g}")
    if boot.partial:
        notes.append(f"in {boot.partial} bootstrap replicates some models could not be rated with the rest (a model "
                     "or group that never lost, or never won, against the others, or was not drawn): those replicates "
                     "rate the largest comparable group only, and count the others as unbounded; an interval end is "
                     "open (±∞) when that happened in more than 2.5% of replicates")
    if boot.unconverged:
        notes.append(f"{boot.unconverged} bootstrap replicates did not converge")
    elo = online_elo(kept, k=elo_k) if elo_k is not None and kept.counts is None else None
    if elo_k is not None and elo is None:
        notes.append("no online Elo for aggregated counts (it needs battles in order)")
    return notes, elo


def _check_options(ci: str, tie_model: str, style_control: bool, battles: Battles, rounds: int) -> None:
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {', '.join(CI_METHODS)}")
    if tie_model not in TIE_MODELS:
        raise ValueError(f"tie_model must be one of {', '.join(TIE_MODELS)}")
    if style_control and tie_model != "half":
        raise ValueError("style control is fitted with ties as half")
    if style_control and not battles.has_style:
        raise ValueError("style control needs battles with style counts (FastChat conv_metadata)")
    if ci == "bootstrap" and rounds < 2:
        raise ValueError("the bootstrap needs at least 2 rounds")


def _drop_rare_models(battles: Battles, min_battles: int) -> tuple[Battles, list[str]]:
    # Also drops models with no battles at all, so every row has data behind it.
    n = battles.n_models
    frequency = battles.counts  # None: one battle per row (no array of ones for millions of rows)
    played = np.bincount(battles.model_a, frequency, n) + np.bincount(battles.model_b, frequency, n)
    keep = played >= max(min_battles, 1)
    dropped = [battles.names[i] for i in np.flatnonzero(~keep & (played > 0))]
    if keep.all():
        return battles, dropped
    new_id = np.cumsum(keep) - 1
    mask = keep[battles.model_a] & keep[battles.model_b]
    subset = battles.select(mask)
    names = [battles.names[i] for i in np.flatnonzero(keep)]
    return Battles(
        model_a=new_id[subset.model_a], model_b=new_id[subset.model_b], outcome=subset.outcome, names=names,
        weights=subset.weights, tstamp=subset.tstamp, anony=subset.anony, style_a=subset.style_a,
        style_b=subset.style_b, counts=subset.counts,
    ), dropped


def _to_elo(strengths: NDArray[np.float64], anchor_id: int | None, anchor: tuple[str, float] | None
            ) -> NDArray[np.float64]:
    """Strength rows in natural-log units to Elo rows: 1000 for the mean, or the anchor at its rating.

    Rows are not re-centred: fits return strengths summing to zero, and bootstrap rows come in the
    bootstrap's own gauge (see :func:`ratings.intervals.bootstrap_bradley_terry`), where a row may
    hold ``±inf`` or ``nan``.
    """
    if anchor_id is None or anchor is None:
        return ELO_PER_NAT * strengths + CENTER
    with np.errstate(invalid="ignore"):
        relative = strengths - strengths[:, anchor_id : anchor_id + 1]
    relative[:, anchor_id] = 0.0
    return ELO_PER_NAT * relative + anchor[1]


def _intervals(model: FittedModel, ratings: NDArray[np.float64], ci: str, rounds: int, seed: int,
               anchor_id: int | None, anchor: tuple[str, float] | None, workers: int, progress: Progress | None,
               played: NDArray[np.float64] | None = None
               ) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[NDArray[np.float64], ...], BootstrapResult]:
    """Lower and upper bounds of the ratings and of the extra parameters, and the bootstrap (if any).

    Sandwich intervals are for each model's rating relative to the battle-weighted mean (``played``, the models'
    battles; :func:`ratings.intervals.reference_covariance`), as the bootstrap's are relative to its reference
    models; None keeps the sum-to-zero gauge (LMArena's method, as arena-rank computes it)."""
    n = len(ratings)
    extras = np.asarray(model.extra_values, dtype=np.float64)
    no_bootstrap = BootstrapResult(np.zeros((0, n)))
    if ci == "none":
        return ratings.copy(), ratings.copy(), (extras, extras), no_bootstrap
    if ci == "sandwich":
        covariance = model.sandwich()
        if anchor_id is None and played is not None:
            strength_cov = reference_covariance(covariance[:n, :n], played) * ELO_PER_NAT**2
        else:
            strength_cov = anchor_covariance(covariance[:n, :n], anchor_id) * ELO_PER_NAT**2
        lower, upper = normal_intervals(ratings, strength_cov)
        extra_lo, extra_hi = normal_intervals(extras, covariance[n:, n:])
        return lower, upper, (extra_lo, extra_hi), no_bootstrap
    result = model.bootstrap(rounds, seed, workers, progress)
    samples = result.samples
    lower, upper = percentile_intervals(_to_elo(samples[:, :n], anchor_id, anchor))
    if len(extras):
        extra_lo, extra_hi = percentile_intervals(samples[:, n:])
    else:
        extra_lo, extra_hi = extras, extras
    return lower, upper, (extra_lo, extra_hi), result


def _rows(names: list[str], pairs: PairCounts, ratings: NDArray[np.float64], lower: NDArray[np.float64],
          upper: NDArray[np.float64], health: WellPosedness, elo: NDArray[np.float64] | None,
          min_rank_battles: int = 0) -> list[Row]:
    n = len(names)
    c = pairs.counts
    wins = np.bincount(pairs.first, c[:, FIRST_WINS], n) + np.bincount(pairs.second, c[:, SECOND_WINS], n)
    losses = np.bincount(pairs.first, c[:, SECOND_WINS], n) + np.bincount(pairs.second, c[:, FIRST_WINS], n)
    ties = np.bincount(pairs.first, c[:, TIES], n) + np.bincount(pairs.second, c[:, TIES], n)
    battles = wins + losses + ties
    ranked = battles >= min_rank_battles
    rank = np.zeros(n, dtype=np.int64)
    rank[ranked] = rank_upper_bound(lower[ranked], upper[ranked])
    main = health.main_component
    rows = []
    # Ranked models first, each group by rating.
    for i in np.lexsort((-ratings, ~ranked)):
        flags = [flag for flag, on in (("never_lost", health.never_lost[i]), ("never_won", health.never_won[i]),
                                       ("disconnected", health.n_components > 1 and not main[i]),
                                       ("lower_unbounded", np.isneginf(lower[i])),
                                       ("upper_unbounded", np.isposinf(upper[i])),
                                       ("too_few_battles", not ranked[i])) if on]
        rows.append(Row(
            model=names[i], rating=float(ratings[i]), lower=float(lower[i]), upper=float(upper[i]),
            rank_ub=int(rank[i]) if ranked[i] else None, battles=int(battles[i]), wins=int(wins[i]),
            losses=int(losses[i]), ties=int(ties[i]), online_elo=None if elo is None else float(elo[i]), flags=flags,
        ))
    return rows


def _json_matrix(matrix: NDArray[np.float64]) -> list[list[float | None]]:
    """A float matrix as nested lists, NaN and infinities as ``None`` (what :func:`_json_safe` gives, without a
    Python call per entry: a 300-model leaderboard has four matrices of 90,000)."""
    values = np.asarray(matrix, dtype=np.float64)
    cells = values.astype(object)
    cells[~np.isfinite(values)] = None
    listed: list[list[float | None]] = cells.tolist()
    return listed


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value
