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
from scipy.sparse.csgraph import breadth_first_order, connected_components

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
    first_scored, second_scored = (side > 0 for side in scoring(pairs.counts))
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


def scoring(cells: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """How much the first and the second model of each pair scored (wins plus ties), over the last axis."""
    return cells[..., FIRST_WINS] + cells[..., TIES], cells[..., SECOND_WINS] + cells[..., TIES]


def _components(pairs: PairCounts, played: NDArray[np.bool_], *, directed: bool) -> tuple[int, NDArray[np.int64]]:
    n = pairs.n_models
    if directed:
        forward, backward = (side > 0 for side in scoring(pairs.counts))
        rows = np.r_[pairs.first[forward], pairs.second[backward]]
        cols = np.r_[pairs.second[forward], pairs.first[backward]]
    else:
        rows, cols = pairs.first, pairs.second
    graph = sparse.coo_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    count, labels = connected_components(graph, directed=directed, connection="strong")
    return int(count), labels.astype(np.int64)


@dataclass(frozen=True)
class ReplicateStructure:
    """Which models each bootstrap replicate can rate, shape ``(replicates, n_models)``.

    ``included`` marks the largest strongly connected group of the replicate's win graph, on
    which the estimate exists; every other model is ``above`` it (it never lost to that group,
    directly or through others: unbounded above), ``below`` it (unbounded below) or neither
    (not comparable with it, or not drawn at all: undetermined).
    """

    included: NDArray[np.bool_]
    above: NDArray[np.bool_]
    below: NDArray[np.bool_]

    @property
    def affected(self) -> NDArray[np.bool_]:
        """Replicates in which some model is not in the rated group."""
        return np.asarray(~self.included.all(axis=1))


def replicate_structure(pairs: PairCounts, cells: NDArray[np.float64], *, safe_count: float = 40.0
                        ) -> ReplicateStructure:
    """Find, in each replicate of the cell counts, the models on which the estimate exists.

    A directed edge ``i → j`` is present when ``i`` scored (won or tied) against ``j`` in the
    replicate. Edges whose count in the data is at least ``safe_count`` are missing from a
    multinomial replicate with probability below ``exp(-safe_count)`` and are taken as present;
    when those edges alone make the graph strongly connected, no replicate is examined.

    Parameters
    ----------
    pairs
        The data the replicates were drawn from.
    cells
        Replicate cell counts, shape ``(replicates, n_pairs, 3)``.
    """
    n, rounds = pairs.n_models, cells.shape[0]
    included = np.ones((rounds, n), dtype=bool)
    above = np.zeros((rounds, n), dtype=bool)
    below = np.zeros((rounds, n), dtype=bool)
    forward_count, backward_count = scoring(pairs.counts)
    sources = np.r_[pairs.first, pairs.second]
    targets = np.r_[pairs.second, pairs.first]
    safe = np.r_[forward_count >= safe_count, backward_count >= safe_count]
    safe_graph = sparse.csr_array((np.ones(int(safe.sum())), (sources[safe], targets[safe])), shape=(n, n))
    if connected_components(safe_graph, directed=True, connection="strong")[0] == 1:
        return ReplicateStructure(included, above, below)
    present = np.concatenate([side > 0 for side in scoring(cells)], axis=1)
    present |= safe
    # All replicates at once: one graph whose nodes are (replicate, model), replicate k's model i
    # being node k·n + i, with each replicate's present edges; no edge joins two replicates, so
    # its strongly connected components are those of every replicate. Edges sorted once by
    # source (and by target, for the reversed graph) make each CSR a selection, without sorting.
    by_source, by_target = np.argsort(sources, kind="stable"), np.argsort(targets, kind="stable")
    graph = _block_graph(present[:, by_source], sources[by_source], targets[by_source], n)
    _, labels = connected_components(graph, directed=True, connection="strong")
    node_size = np.bincount(labels)[labels].reshape(rounds, n)
    root = np.argmax(node_size, axis=1)  # a node of the (first) largest group of each replicate
    offsets = np.arange(rounds) * n
    main = labels.reshape(rounds, n) == labels[offsets + root][:, None]
    affected = ~main.all(axis=1)
    if not affected.any():
        return ReplicateStructure(included, above, below)
    # Reachability from each replicate's main group, both ways, in one search each: a super-source
    # (the extra last node) has an edge to every affected replicate's root.
    roots = (offsets + root)[affected]
    reversed_graph = _block_graph(present[:, by_target], targets[by_target], sources[by_target], n)
    reached_from = _reached(graph, roots, rounds * n).reshape(rounds, n)
    reaching = _reached(reversed_graph, roots, rounds * n).reshape(rounds, n)
    included = main
    above = reaching & ~main
    below = reached_from & ~main
    return ReplicateStructure(included, above, below)


def _block_graph(keep: NDArray[np.bool_], rows: NDArray[np.int64], cols: NDArray[np.int64], n: int
                 ) -> sparse.csr_array:
    """One graph of all replicates' kept edges (``keep``: replicates × edges, edges sorted by row)."""
    rounds, n_edges = keep.shape
    offsets = (np.arange(rounds, dtype=np.int32) * n)[:, None]
    indices = (offsets + cols.astype(np.int32))[keep]  # row-major: by replicate, then by row
    # Edges per (replicate, row): differences of the running count at each row's last edge.
    running = np.zeros((rounds, n_edges + 1), dtype=np.int32)
    np.cumsum(keep, axis=1, dtype=np.int32, out=running[:, 1:])
    row_end = np.searchsorted(rows, np.arange(n), side="right")
    indptr = np.empty(rounds * n + 1, dtype=np.int32)
    indptr[0] = 0
    ends = running[:, row_end] + (np.cumsum(running[:, -1]) - running[:, -1])[:, None]
    indptr[1:] = ends.ravel()
    return sparse.csr_array((np.ones(len(indices)), indices, indptr), shape=(rounds * n, rounds * n))


def _reached(graph: sparse.csr_array, roots: NDArray[np.int64], nodes: int) -> NDArray[np.bool_]:
    """Which nodes are reachable from any of ``roots`` (the roots included)."""
    source = nodes
    extended = sparse.csr_array(
        (np.r_[graph.data, np.ones(len(roots))], np.r_[graph.indices, roots],
         np.r_[graph.indptr, graph.indptr[-1] + len(roots)]), shape=(nodes + 1, nodes + 1))
    order = breadth_first_order(extended, source, directed=True, return_predecessors=False)
    reached = np.zeros(nodes + 1, dtype=bool)
    reached[order] = True
    return reached[:nodes]
