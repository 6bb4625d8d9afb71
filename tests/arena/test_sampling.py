import random
from collections import Counter

import pytest
from scipy.stats import chisquare

from arena.sampling import NotEnoughModels, pair_probability, pair_sample


def test_it_draws_unordered_pairs_with_the_weighted_probabilities() -> None:
    weights = [1.0, 2.0, 3.0, 0.5]
    candidates = list(zip(range(4), weights, strict=True))
    rng = random.Random(1234)
    draws = 40_000
    counts = Counter(frozenset(pair_sample(candidates, rng)) for _ in range(draws))
    pairs = [frozenset((i, j)) for i in range(4) for j in range(i + 1, 4)]
    expected = [pair_probability(weights, *sorted(p)) * draws for p in pairs]
    assert sum(pair_probability(weights, *sorted(p)) for p in pairs) == pytest.approx(1.0)
    result = chisquare([counts[p] for p in pairs], expected)
    assert result.pvalue > 0.001


def test_it_never_pairs_a_model_with_itself() -> None:
    rng = random.Random(5)
    candidates = [("x", 10.0), ("y", 0.01)]
    assert all(a != b for a, b in (pair_sample(candidates, rng) for _ in range(2000)))


def test_it_puts_each_model_on_either_side_equally_often() -> None:
    rng = random.Random(9)
    candidates = [("heavy", 9.0), ("light", 1.0), ("mid", 3.0)]
    left = Counter(pair_sample(candidates, rng)[0] for _ in range(30_000))
    right = Counter(pair_sample(candidates, rng)[1] for _ in range(30_000))
    for name in ("heavy", "light", "mid"):
        assert left[name] == pytest.approx(right[name], rel=0.05)


def test_it_never_draws_a_model_with_weight_zero() -> None:
    rng = random.Random(3)
    candidates = [("a", 1.0), ("b", 1.0), ("never", 0.0)]
    drawn = {m for _ in range(3000) for m in pair_sample(candidates, rng)}
    assert drawn == {"a", "b"}


def test_it_refuses_to_draw_from_fewer_than_two_drawable_models() -> None:
    with pytest.raises(NotEnoughModels):
        pair_sample([("only", 1.0), ("zero", 0.0)], random.Random(0))
