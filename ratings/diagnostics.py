"""Detect data on which the Bradley–Terry maximum likelihood estimate does not exist.

With ties counting half a win each way, the estimate exists (and is unique up to a shift) exactly
when the directed graph with an edge ``i → j`` whenever ``i`` scored against ``j`` (a win or a
tie) is strongly connected (Zermelo 1929, Ford 1957). Otherwise some group of models never lost to
the rest, and the likelihood keeps growing as that group's ratings go to infinity; a disconnected
comparison graph leaves the offset between its parts undetermined. In both cases the fit adds a
small ridge and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ratings.aggregate import FIRST_WINS, SECOND_WINS, TIES, PairCounts

DEFAULT_RIDGE = 0.01
"""Ridge ``λ`` on natural-log strengths used for ill-posed data: a N(0, 1/λ) prior, i.e. a prior
standard deviation of 10 natural-log units (about 1,737 Elo points)."""


@dataclass(frozen=True)
class WellPosedness:
    """What is known about the existence of the maximum likelihood estimate."""

    well_posed: bool
    component: NDArray[np.int64]
    n_components: int
    never_lost: NDArray[np.bool_]
    never_won: NDArray[np.bool_]
    unplayed: NDArray[np.bool_]
    notes: list[str] = field(default_factory=list)

    @property
    def main_component(self) -> NDArray[np.bool_]:
        """Models in the largest connected part of the comparison graph."""
        if not len(self.component):
            return np.zeros(0, dtype=bool)
        sizes = np.bincount(self.component)
        return np.asarray(self.component == np.argmax(sizes))


def check_well_posed(pairs: PairCounts, names: list[str] | None = None) -> WellPosedness:
    """Check whether the ties-as-half Bradley–Terry maximum likelihood estimate exists.

    Parameters
    ----------
    pairs
        Aggregated battles.
    names
        Model names for the notes; ids are used when omitted.

    Returns
    -------
    WellPosedness
        Per-model flags (never lost, never won, no battles), the connected components of the
        comparison graph, and human-readable notes describing every problem found.
    """
    n = pairs.n_models
    label = names if names is not None else [str(i) for i in range(n)]
    counts = pairs.counts
    first_scored = counts[:, FIRST_WINS] + counts[:, TIES] > 0
    second_scored = counts[:, SECOND_WINS] + counts[:, TIES] > 0
    scored = np.zeros(n)
    conceded = np.zeros(n)
    np.add.at(scored, pairs.first, first_scored)
    np.add.at(scored, pairs.second, second_scored)
    np.add.at(conceded, pairs.first, second_scored)
    np.add.at(conceded, pairs.second, first_scored)
    played = np.bincount(np.r_[pairs.first, pairs.second], minlength=n) > 0
    never_lost = played & (conceded == 0)
    never_won = played & (scored == 0)
    n_parts, component = _components(pairs, played, directed=False)
    n_strong, _ = _components(pairs, played, directed=True)
    notes = []
    for i in np.flatnonzero(never_lost):
        notes.append(f"{label[i]} never lost or tied")
    for i in np.flatnonzero(never_won):
        notes.append(f"{label[i]} never won or tied")
    for i in np.flatnonzero(~played):
        notes.append(f"{label[i]} has no battles")
    if n_parts > 1:
        notes.append(f"the comparison graph has {n_parts} disconnected parts; their offsets are set by the prior")
    if n_strong > 1 and not notes:
        notes.append("a group of models never lost to the others")
    return WellPosedness(
        well_posed=n_strong == 1 and bool(played.all()),
        component=component,
        n_components=n_parts,
        never_lost=never_lost,
        never_won=never_won,
        unplayed=~played,
        notes=notes,
    )


def _components(pairs: PairCounts, played: NDArray[np.bool_], *, directed: bool) -> tuple[int, NDArray[np.int64]]:
    n = pairs.n_models
    counts = pairs.counts
    if directed:
        forward = counts[:, FIRST_WINS] + counts[:, TIES] > 0
        backward = counts[:, SECOND_WINS] + counts[:, TIES] > 0
        rows = np.r_[pairs.first[forward], pairs.second[backward]]
        cols = np.r_[pairs.second[forward], pairs.first[backward]]
    else:
        rows, cols = pairs.first, pairs.second
    graph = sparse.coo_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    count, labels = connected_components(graph, directed=directed, connection="strong")
    return int(count), labels.astype(np.int64)
