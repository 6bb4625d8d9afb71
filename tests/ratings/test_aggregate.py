import numpy as np

from ratings.aggregate import aggregate
from ratings.data import Battles


def test_counts_per_pair_match_a_plain_loop_over_battles():
    rng = np.random.default_rng(41)
    n, size = 7, 2000
    a = rng.integers(0, n, size)
    b = (a + rng.integers(1, n, size)) % n
    outcome = rng.integers(0, 4, size).astype(np.int8)
    weights = rng.random(size)
    pairs = aggregate(Battles(a, b, outcome, [str(i) for i in range(n)], weights=weights))
    expected = {}
    for i, j, o, w in zip(a, b, outcome, weights, strict=True):
        first, second = min(i, j), max(i, j)
        column = 2 if o >= 2 else (o if i < j else 1 - o)
        cell = expected.setdefault((first, second), np.zeros((2, 3)))
        cell[0, column] += 1
        cell[1, column] += w
    assert len(expected) == pairs.n_pairs
    for k, (first, second) in enumerate(zip(pairs.first, pairs.second, strict=True)):
        np.testing.assert_allclose(pairs.counts[k], expected[(first, second)][0])
        np.testing.assert_allclose(pairs.weights[k], expected[(first, second)][1])
    assert pairs.n_battles == size


def test_the_sparse_path_for_many_models_gives_the_same_counts(monkeypatch):
    rng = np.random.default_rng(42)
    a = rng.integers(0, 30, 500)
    b = (a + rng.integers(1, 30, 500)) % 30
    battles = Battles(a, b, rng.integers(0, 4, 500).astype(np.int8), [str(i) for i in range(30)],
                      weights=rng.random(500))
    dense = aggregate(battles)
    monkeypatch.setattr("ratings.aggregate._DENSE_LIMIT", 0)
    sparse = aggregate(battles)
    for field in ("first", "second", "counts", "weights", "weights_sq"):
        np.testing.assert_allclose(getattr(sparse, field), getattr(dense, field))


def test_block_by_block_aggregation_gives_the_same_counts(monkeypatch):
    """Millions of battles are aggregated a block at a time (bounded temporaries): the blocks change nothing."""
    rng = np.random.default_rng(43)
    a = rng.integers(0, 12, 1_000)
    b = (a + rng.integers(1, 12, 1_000)) % 12
    outcome = rng.integers(0, 4, 1_000).astype(np.int8)
    names = [str(i) for i in range(12)]
    for extra in ({}, {"weights": rng.random(1_000)}, {"counts": rng.integers(0, 5, 1_000).astype(float)}):
        battles = Battles(a, b, outcome, names, **extra)
        whole = aggregate(battles)
        monkeypatch.setattr("ratings.aggregate._BLOCK", 77)
        blocked = aggregate(battles)
        monkeypatch.undo()
        for field in ("first", "second", "counts", "weights", "weights_sq"):
            np.testing.assert_allclose(getattr(blocked, field), getattr(whole, field), rtol=1e-12)
