"""One interface over the three rating models: fit once, then intervals on demand.

Each model is a likelihood module (:mod:`ratings.bradley_terry`, :mod:`ratings.davidson`,
:mod:`ratings.style_control`); data preparation and bootstrapping are shared here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.aggregate import PairCounts
from ratings.bradley_terry import fit_bradley_terry
from ratings.data import Battles
from ratings.davidson import fit_davidson, sandwich_davidson
from ratings.intervals import (
    BootstrapResult,
    Progress,
    bootstrap_bradley_terry,
    bootstrap_refit,
    sandwich_bradley_terry,
)
from ratings.style import STYLE_FEATURES
from ratings.style_control import bootstrap_style_control, fit_style_control, sandwich_style_control, style_data

Bootstrap = Callable[[int, int, int, "Progress | None"], BootstrapResult]


@dataclass(frozen=True)
class FittedModel:
    """Strengths (natural-log units), extra parameters and interval methods over all parameters.

    ``sandwich()`` returns the covariance of ``(strengths, extras)``; ``bootstrap(rounds, seed,
    workers, progress)`` returns replicate rows of the same.
    """

    strengths: NDArray[np.float64]
    extra_names: list[str]
    extra_values: list[float]
    sandwich: Callable[[], NDArray[np.float64]]
    bootstrap: Bootstrap


def fit_model(battles: Battles, pairs: PairCounts, *, tie_model: str, style_control: bool, ridge: float
              ) -> FittedModel:
    """Fit the model the options name: ties-as-half Bradley–Terry, Davidson, or style control."""
    if style_control:
        return _style_model(battles, pairs, ridge)
    if tie_model == "davidson":
        return _davidson_model(pairs, ridge)
    return _half_model(pairs, ridge)


def _half_model(pairs: PairCounts, ridge: float) -> FittedModel:
    fit = fit_bradley_terry(pairs, ridge=ridge)

    def bootstrap(rounds: int, seed: int, workers: int, progress: Progress | None) -> BootstrapResult:
        return bootstrap_bradley_terry(pairs, fit.strengths, rounds=rounds, seed=seed, ridge=ridge,
                                       workers=workers, progress=progress)

    return FittedModel(fit.strengths, [], [], lambda: sandwich_bradley_terry(pairs, fit.strengths, ridge), bootstrap)


def _davidson_model(pairs: PairCounts, ridge: float) -> FittedModel:
    fit = fit_davidson(pairs, ridge=ridge)
    start = np.r_[fit.strengths, fit.log_tie]

    def refit(cells: NDArray[np.float64], replicate_ridge: float) -> NDArray[np.float64]:
        replicate = fit_davidson(pairs, cells=cells, ridge=replicate_ridge, init=start, tol=1e-9)
        return np.r_[replicate.strengths, replicate.log_tie]

    def bootstrap(rounds: int, seed: int, workers: int, progress: Progress | None) -> BootstrapResult:
        return bootstrap_refit(pairs, refit, rounds=rounds, seed=seed, ridge=ridge, workers=workers,
                               progress=progress)

    return FittedModel(fit.strengths, ["log_tie_parameter"], [fit.log_tie], lambda: sandwich_davidson(pairs, fit),
                       bootstrap)


def _style_model(battles: Battles, pairs: PairCounts, ridge: float) -> FittedModel:
    data = style_data(battles)
    # Started from the plain fit of the same battles (cheap: on pair counts), Newton needs fewer passes over them.
    start = np.r_[fit_bradley_terry(pairs, ridge=ridge).strengths, np.zeros(data.n_features)]
    fit = fit_style_control(data, ridge=ridge, init=start)

    def bootstrap(rounds: int, seed: int, workers: int, progress: Progress | None) -> BootstrapResult:
        return bootstrap_style_control(data, fit, rounds=rounds, seed=seed, progress=progress)

    names = [f"style_{name}" for name in STYLE_FEATURES]
    return FittedModel(fit.strengths, names, [float(c) for c in fit.coefficients],
                       lambda: sandwich_style_control(data, fit), bootstrap)
