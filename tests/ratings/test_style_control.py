import numpy as np
import pytest
from scipy.optimize import check_grad

from ratings import style, style_control
from ratings.data import Battles
from ratings.leaderboard import compute_leaderboard
from ratings.style import STYLE_FEATURES, style_counts, style_differences, style_from_metadata
from ratings.style_control import fit_style_control, style_data, style_objective


def styled_battles(strengths, beta, n_battles, rng):
    """Battles whose outcome depends on the models and on the answers' style (no ties)."""
    n = len(strengths)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    style_a = rng.poisson([300, 2, 4, 3], size=(n_battles, 4)).astype(float)
    style_b = rng.poisson([300, 2, 4, 3], size=(n_battles, 4)).astype(float)
    x = style_differences(style_a, style_b)
    p = 1 / (1 + np.exp(-(strengths[a] - strengths[b] + x @ beta)))
    outcome = np.where(rng.random(n_battles) < p, 0, 1).astype(np.int8)
    return Battles(a, b, outcome, [f"m{i}" for i in range(n)], style_a=style_a, style_b=style_b)


def test_style_counts_find_length_headers_list_items_and_bold():
    text = "# Title\n\nSome **bold** and __also bold__ words.\n\n- one\n- two\n1. three\n## Sub\nplain #not"
    length, headers, lists, bold = style_counts(text)
    assert (headers, lists, bold) == (2, 3, 2)
    assert length == len(text.split())


def test_normalised_differences_are_antisymmetric_and_standardised():
    rng = np.random.default_rng(0)
    a = rng.poisson(5, size=(500, 4)).astype(float)
    b = rng.poisson(5, size=(500, 4)).astype(float)
    forward, backward = style_differences(a, b), style_differences(b, a)
    np.testing.assert_allclose(forward, -backward, atol=1e-12)
    np.testing.assert_allclose(forward.std(axis=0), 1.0)
    zero = style_differences(np.zeros((3, 4)), np.zeros((3, 4)))
    assert np.all(zero == 0)


def test_fastchat_metadata_is_summed_per_feature():
    metadata = {"sum_assistant_a_tokens": 10, "sum_assistant_b_tokens": 20,
                "header_count_a": {"h1": 1}, "header_count_b": {"h1": 0, "h2": 2},
                "list_count_a": {"ordered": 0}, "list_count_b": {"ordered": 1, "unordered": 1},
                "bold_count_a": {"**": 5}, "bold_count_b": {"**": 0}}
    assert style_from_metadata(metadata) == (10, 1, 0, 5, 20, 2, 2, 0)
    assert style_from_metadata({"sum_assistant_a_tokens": 10}) is None


def test_the_style_gradient_and_hessian_match_finite_differences():
    rng = np.random.default_rng(1)
    data = style_data(styled_battles(rng.normal(size=5), np.array([0.5, 0.1, -0.2, 0.3]), 800, rng))
    x = rng.normal(size=5 + len(STYLE_FEATURES))
    _, grad, hess = style_objective(x, data, 0.2)
    assert check_grad(lambda p: style_objective(p, data, 0.2)[0], lambda p: style_objective(p, data, 0.2)[1], x) \
        < 1e-5 * np.linalg.norm(grad)
    for i in range(len(x)):
        error = check_grad(lambda p, i=i: style_objective(p, data, 0.2)[1][i],
                           lambda p, i=i: style_objective(p, data, 0.2)[2][i], x)
        assert error < 1e-5 * np.linalg.norm(hess[i])


def test_it_recovers_known_strengths_and_style_coefficients():
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 0.7, 6)
    truth -= truth.mean()
    beta = np.array([0.6, 0.0, 0.25, -0.15])
    fit = fit_style_control(style_data(styled_battles(truth, beta, 60_000, rng)))
    assert fit.converged
    np.testing.assert_allclose(fit.coefficients, beta, atol=0.04)
    np.testing.assert_allclose(fit.strengths, truth, atol=0.05)


def test_the_leaderboard_reports_controlled_ratings_and_coefficients_with_intervals():
    rng = np.random.default_rng(3)
    battles = styled_battles(np.zeros(4), np.array([0.8, 0.0, 0.0, 0.0]), 3000, rng)
    board = compute_leaderboard(battles, style_control=True, ci="sandwich")
    length = next(p for p in board.parameters if p.name == "style_length")
    assert 0.6 < length.value < 1.0
    assert length.lower < length.value < length.upper
    assert board.metadata.method == "bradley_terry_style"
    assert max(r.rating for r in board.rows) - min(r.rating for r in board.rows) < 60


def test_style_control_refuses_battles_without_style():
    battles = Battles(np.array([0, 1]), np.array([1, 0]), np.array([0, 0], dtype=np.int8), ["x", "y"])
    with pytest.raises(ValueError, match="style"):
        compute_leaderboard(battles, style_control=True)


def test_style_control_bootstrap_is_reproducible():
    rng = np.random.default_rng(4)
    battles = styled_battles(rng.normal(size=4), np.array([0.3, 0.0, 0.1, 0.0]), 600, rng)
    first = compute_leaderboard(battles, style_control=True, rounds=30, seed=9).to_dict()
    again = compute_leaderboard(battles, style_control=True, rounds=30, seed=9).to_dict()
    assert first == again
    assert first["rows"][0]["lower"] < first["rows"][0]["rating"] < first["rows"][0]["upper"]


def test_block_by_block_sums_equal_the_whole_data_at_once(monkeypatch):
    """Large data is summed in blocks (features standardised per block, never stored): same fit and intervals."""
    rng = np.random.default_rng(5)
    battles = styled_battles(rng.normal(size=6), np.array([0.5, 0.1, -0.2, 0.3]), 5_000, rng)
    whole = style_data(battles)
    assert whole.cached is not None  # one block: features computed once
    params = rng.normal(size=6 + len(STYLE_FEATURES))
    monkeypatch.setattr(style_control, "BLOCK", 37)
    monkeypatch.setattr(style, "BLOCK", 37)
    narrow = Battles(battles.model_a, battles.model_b, battles.outcome, battles.names,
                     style_a=battles.style_a.astype(np.float32), style_b=battles.style_b.astype(np.float32))
    blocked = style_data(narrow)  # counts as the refresh reads them: float32, exact for whole numbers
    assert blocked.cached is None and sum(1 for _ in blocked.blocks()) == -(-5_000 // 37)
    np.testing.assert_allclose(blocked.center, whole.center, rtol=1e-12)
    np.testing.assert_allclose(blocked.scale, whole.scale, rtol=1e-12)
    for got, expected in zip(style_objective(params, blocked, 0.1), style_objective(params, whole, 0.1), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)
    monkeypatch.undo()
    board = compute_leaderboard(battles, style_control=True, ci="sandwich", elo_k=None).to_dict()
    monkeypatch.setattr(style_control, "BLOCK", 37)
    monkeypatch.setattr(style, "BLOCK", 37)
    again = compute_leaderboard(narrow, style_control=True, ci="sandwich", elo_k=None).to_dict()
    for row, other in zip(board["rows"], again["rows"], strict=True):
        assert row["model"] == other["model"]
        for key in ("rating", "lower", "upper"):
            assert abs(row[key] - other[key]) < 1e-6
