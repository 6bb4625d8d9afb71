"""The ratings benchmark's plumbing: the battles it hands to the peers, and how it reports them."""

from __future__ import annotations

import numpy as np

from bench.ratings import _peer_row, case_battles, write_fastchat_csv
from ratings.data import load_battles


def test_the_peers_get_exactly_our_battles_in_fastchat_spelling(tmp_path) -> None:
    battles = case_battles("arena", 30, 2000, seed=4)
    path = tmp_path / "battles.csv"
    write_fastchat_csv(battles, path)
    again, problems = load_battles(path)
    assert not problems
    assert again.n_battles == battles.n_battles
    names = np.array(battles.names)
    assert np.array_equal(np.array(again.names)[again.model_a], names[battles.model_a])
    assert np.array_equal(np.array(again.names)[again.model_b], names[battles.model_b])
    assert np.array_equal(again.outcome, battles.outcome)
    assert set(np.unique(battles.outcome)) == {0, 1, 2, 3}


def test_a_peer_row_states_the_ratio_of_our_time_to_the_peers() -> None:
    row = _peer_row("case", "peer", 100, "0.500 s (0.4; CPU 0.9)", {"fit_s": 1.0, "bootstrap_s": 9.0})
    assert row.endswith("| 10.00 s | 0.050× |")
    assert "not run" in _peer_row("case", "peer", 100, "0.5 s", None)
