import json

import numpy as np

from ratings.aggregate import aggregate
from ratings.data import Battles
from ratings.diagnostics import DEFAULT_RIDGE, check_well_posed
from ratings.leaderboard import compute_leaderboard


def battles_from(triples, names):
    a, b, o = (np.array(column) for column in zip(*triples, strict=True))
    return Battles(a.astype(np.int64), b.astype(np.int64), o.astype(np.int8), names)


def test_a_model_that_never_lost_is_flagged_and_still_gets_a_finite_rating():
    # m0 beats everyone; m1, m2, m3 split their games.
    triples = [(0, 1, 0)] * 5 + [(2, 0, 1)] * 4 + [(1, 2, 0), (2, 1, 0), (2, 3, 2), (3, 1, 0), (1, 3, 0)] * 3
    board = compute_leaderboard(battles_from(triples, ["m0", "m1", "m2", "m3"]), rounds=200)
    top = board.rows[0]
    assert top.model == "m0"
    assert "never_lost" in top.flags
    assert not board.metadata.well_posed
    assert board.metadata.ridge == DEFAULT_RIDGE
    assert any("m0 never lost" in note for note in board.metadata.notes)
    assert any("ridge" in note for note in board.metadata.notes)
    assert all(np.isfinite([r.rating, r.lower, r.upper]).all() for r in board.rows)
    assert top.rating > board.rows[1].rating + 200


def test_a_model_that_never_won_is_flagged():
    triples = [(0, 1, 0), (1, 0, 0), (0, 2, 0), (2, 1, 1), (1, 2, 0)]
    health = check_well_posed(aggregate(battles_from(triples, ["a", "b", "c"])), ["a", "b", "c"])
    assert not health.well_posed
    assert health.never_won.tolist() == [False, False, True]
    assert health.never_lost.tolist() == [False, False, False]
    assert health.notes == ["c never won or tied"]


def test_a_model_that_only_tied_is_not_flagged():
    triples = [(0, 1, 2), (1, 2, 0), (2, 1, 0), (0, 2, 2)]
    health = check_well_posed(aggregate(battles_from(triples, ["a", "b", "c"])))
    assert health.well_posed
    assert not health.never_lost.any() and not health.never_won.any()


def test_a_disconnected_comparison_graph_is_reported_and_fitted_with_the_ridge():
    triples = [(0, 1, 0), (1, 0, 0), (0, 1, 2), (2, 3, 0), (3, 2, 0), (3, 2, 0)]
    board = compute_leaderboard(battles_from(triples, ["a", "b", "c", "d"]), ci="sandwich")
    assert not board.metadata.well_posed
    assert any("2 disconnected parts" in note for note in board.metadata.notes)
    assert board.metadata.ridge > 0
    flagged = {row.model for row in board.rows if "disconnected" in row.flags}
    assert flagged in ({"a", "b"}, {"c", "d"})
    assert all(np.isfinite(row.lower) and np.isfinite(row.upper) for row in board.rows)
    json.dumps(board.to_dict(), allow_nan=False)


def test_well_posed_data_gets_no_ridge_and_no_notes():
    triples = [(0, 1, 0), (1, 2, 0), (2, 0, 0), (0, 2, 1)]
    board = compute_leaderboard(battles_from(triples, ["a", "b", "c"]), ci="sandwich")
    assert board.metadata.well_posed
    assert board.metadata.ridge == 0.0
    assert board.metadata.notes == []


def test_bootstrap_replicates_where_a_rare_model_never_lost_rate_the_others_without_it():
    rng = np.random.default_rng(8)
    common = [(int(i), int(j), int(o)) for i, j, o in
              zip(rng.integers(0, 3, 600), rng.integers(1, 3, 600), rng.integers(0, 3, 600), strict=True)]
    common = [(i, (i + j) % 3, o) for i, j, o in common]
    rare = [(3, 0, 0), (3, 1, 0), (2, 3, 0), (3, 2, 0)]  # one loss in four battles
    battles = battles_from(common + rare, ["a", "b", "c", "rare"])
    board = compute_leaderboard(battles, rounds=200, seed=1)
    assert board.metadata.well_posed and board.metadata.ridge == 0.0
    # The loss cell is empty in about exp(-1) of the replicates: there the rare model is unbounded above.
    assert 40 < board.metadata.bootstrap_partial < 110
    assert board.metadata.bootstrap_unconverged == 0
    assert any("could not be rated with the rest" in note for note in board.metadata.notes)
    rare_row = next(row for row in board.rows if row.model == "rare")
    assert rare_row.upper == np.inf and "upper_unbounded" in rare_row.flags
    others = [row for row in board.rows if row.model != "rare"]
    # Replicates where the rare model is unbounded cannot drag the others: their intervals stay finite
    # and of the order of their sampling error (~400 battles each), not thousands of points.
    for row in others:
        assert np.isfinite(row.lower) and np.isfinite(row.upper) and not row.flags
        assert row.upper - row.lower < 200
