import json

import numpy as np
import pytest

from ratings.aggregate import aggregate
from ratings.bradley_terry import ELO_PER_NAT
from ratings.data import Battles
from ratings.elo import online_elo
from ratings.leaderboard import compute_leaderboard
from ratings.matrices import win_rate_matrix
from tests.ratings.conftest import simulate_battles


@pytest.fixture
def battles():
    rng = np.random.default_rng(31)
    return simulate_battles(np.linspace(-1, 1, 6), 3000, rng, tie_rate=0.2)


def test_rows_are_sorted_by_rating_and_count_every_battle(battles):
    board = compute_leaderboard(battles, ci="sandwich")
    ratings = [row.rating for row in board.rows]
    assert ratings == sorted(ratings, reverse=True)
    assert np.mean(ratings) == pytest.approx(1000.0)
    assert sum(row.battles for row in board.rows) == 2 * len(battles)
    for row in board.rows:
        assert row.wins + row.losses + row.ties == row.battles
        assert row.lower < row.rating < row.upper
    assert sum(row.wins for row in board.rows) == sum(row.losses for row in board.rows)


def test_an_anchor_pins_one_model_and_shifts_the_rest_by_the_same_amount(battles):
    plain = {row.model: row for row in compute_leaderboard(battles, ci="sandwich").rows}
    anchored = {row.model: row for row in compute_leaderboard(battles, ci="sandwich", anchor=("m2", 1200.0)).rows}
    shift = 1200.0 - plain["m2"].rating
    assert anchored["m2"].rating == pytest.approx(1200.0)
    assert anchored["m2"].lower == pytest.approx(1200.0) and anchored["m2"].upper == pytest.approx(1200.0)
    for name, row in anchored.items():
        assert row.rating == pytest.approx(plain[name].rating + shift)


def test_an_unknown_anchor_or_option_is_refused(battles):
    with pytest.raises(ValueError, match="anchor"):
        compute_leaderboard(battles, anchor=("nobody", 1000.0))
    with pytest.raises(ValueError, match="ci"):
        compute_leaderboard(battles, ci="jackknife")
    with pytest.raises(ValueError, match="tie_model"):
        compute_leaderboard(battles, tie_model="rao-kupper")
    with pytest.raises(ValueError, match="no battles left"):
        compute_leaderboard(battles, min_battles=len(battles) + 1)


def test_models_below_the_minimum_battles_are_left_out_with_their_battles(battles):
    extra = Battles(np.r_[battles.model_a, 6], np.r_[battles.model_b, 0], np.r_[battles.outcome, 0].astype(np.int8),
                    [*battles.names, "newcomer"])
    board = compute_leaderboard(extra, ci="none", min_battles=10)
    assert "newcomer" not in [row.model for row in board.rows]
    assert board.metadata.dropped_models == ["newcomer"]
    assert board.metadata.n_battles == len(battles)
    assert board.names == battles.names


def test_to_dict_is_strict_json_and_carries_matrices_and_metadata(battles):
    board = compute_leaderboard(battles, rounds=100, seed=5)
    data = json.loads(json.dumps(board.to_dict(), allow_nan=False))
    assert data["metadata"]["rounds"] == 100 and data["metadata"]["seed"] == 5
    assert set(data["rows"][0]) >= {"model", "rating", "lower", "upper", "rank_ub", "battles", "wins", "losses",
                                    "ties", "flags"}
    counts = np.array(data["matrices"]["battle_counts"])
    assert counts.sum() == 2 * len(battles)
    assert data["matrices"]["win_rates"][0][0] is None


def test_the_predicted_matrix_follows_the_ratings_and_complements_itself(battles):
    board = compute_leaderboard(battles, ci="none")
    predicted = board.predicted_win_rates
    off = ~np.eye(len(board.names), dtype=bool)
    np.testing.assert_allclose((predicted + predicted.T)[off], 1.0)
    rating = {row.model: row.rating for row in board.rows}
    gap = (rating["m5"] - rating["m0"]) / ELO_PER_NAT
    assert predicted[5, 0] == pytest.approx(1 / (1 + np.exp(-gap)))
    # A well-specified fit predicts close to what was observed between the extremes.
    assert predicted[5, 0] == pytest.approx(board.win_rates[5, 0], abs=0.1)


def test_observed_win_rates_count_ties_as_half_or_leave_them_out():
    battles = Battles(np.array([0, 0, 0, 1]), np.array([1, 1, 1, 0]), np.array([0, 2, 3, 0], dtype=np.int8), ["x", "y"])
    pairs = aggregate(battles)
    half = win_rate_matrix(pairs, ties="half")
    decisive = win_rate_matrix(pairs, ties="exclude")
    assert half[0, 1] == pytest.approx((1 + 0.5 * 2) / 4)
    assert decisive[0, 1] == pytest.approx(0.5)
    assert half[0, 1] + half[1, 0] == pytest.approx(1.0)


def test_online_elo_follows_timestamps_and_the_update_rule():
    battles = Battles(np.array([0, 0]), np.array([1, 1]), np.array([0, 1], dtype=np.int8), ["x", "y"],
                      tstamp=np.array([2.0, 1.0]))
    # In time order y wins first (+2 for y at even odds), then x wins against a stronger y.
    after_first = 1000 - 2.0
    expected_x = 1 / (1 + 10 ** ((1002.0 - after_first) / 400))
    x_final = after_first + 4 * (1 - expected_x)
    assert online_elo(battles, k=4)[0] == pytest.approx(x_final)
    assert online_elo(battles, k=4, by_time=False)[0] != pytest.approx(x_final)
    assert online_elo(battles).sum() == pytest.approx(2000.0)


def test_already_aggregated_counts_give_the_same_leaderboard_as_the_battles(battles):
    keys, counts = np.unique(np.stack([battles.model_a, battles.model_b, battles.outcome]), axis=1,
                             return_counts=True)
    aggregated = Battles(keys[0], keys[1], keys[2].astype(np.int8), battles.names, counts=counts.astype(float))
    assert aggregated.n_battles == len(battles) and len(aggregated) < len(battles)
    raw = compute_leaderboard(battles, rounds=200, seed=4)
    cells = compute_leaderboard(aggregated, rounds=200, seed=4)
    assert [(r.model, r.rating, r.lower, r.upper, r.wins, r.ties) for r in cells.rows] == \
        [(r.model, r.rating, r.lower, r.upper, r.wins, r.ties) for r in raw.rows]
    assert cells.metadata.n_battles == len(battles)
    assert all(row.online_elo is None for row in cells.rows)
    assert any("no online Elo" in note for note in cells.metadata.notes)
    with pytest.raises(ValueError, match="in order"):
        online_elo(aggregated)


def test_a_model_with_too_few_battles_is_rated_but_neither_ranked_nor_ranking_others():
    rng = np.random.default_rng(32)
    base = simulate_battles(np.linspace(-1, 1, 4), 2000, rng, tie_rate=0.1)
    # A newcomer with one battle, a win: the fit needs a ridge and still puts it first, on no evidence at all.
    battles = Battles(np.r_[base.model_a, 4], np.r_[base.model_b, 0], np.r_[base.outcome, 0].astype(np.int8),
                      [*base.names, "newcomer"])
    plain = compute_leaderboard(battles, rounds=50, seed=1, elo_k=None)
    newcomer = next(r for r in plain.rows if r.model == "newcomer")
    assert newcomer.rank_ub == 1 and plain.rows[0].model == "newcomer"  # what the threshold is for
    board = compute_leaderboard(battles, rounds=50, seed=1, elo_k=None, min_rank_battles=30)
    assert board.metadata.min_rank_battles == 30
    last = board.rows[-1]
    assert last.model == "newcomer" and last.rank_ub is None and "too_few_battles" in last.flags
    ranked = [r for r in board.rows if r.rank_ub is not None]
    assert [r.model for r in ranked] == [r.model for r in plain.rows if r.model != "newcomer"]
    others = compute_leaderboard(base, rounds=50, seed=1, elo_k=None)
    # The newcomer's battle enters the fit, so ratings move a little; its zero-width interval no longer counts
    # towards anyone's rank: the ranks are those among the four well-measured models.
    assert {r.model: r.rank_ub for r in ranked} == {r.model: r.rank_ub for r in others.rows}
    assert all("too_few_battles" not in r.flags for r in ranked)
    assert board.to_dict()["rows"][-1]["rank_ub"] is None
