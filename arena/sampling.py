"""Drawing the pair of models for an anonymous battle."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class NotEnoughModels(Exception):
    pass


def pair_sample(candidates: Sequence[tuple[T, float]], rng: random.Random) -> tuple[T, T]:
    """Draw two distinct candidates, each draw proportional to its weight, in random order.

    The first is drawn by weight from all, the second by weight from the rest;
    sides are then swapped with probability 1/2, so neither position favours
    heavier models. Candidates with weight 0 are never drawn.
    """
    pool = [(item, float(weight)) for item, weight in candidates if weight > 0]
    if len(pool) < 2:
        raise NotEnoughModels("fewer than two active models can be drawn")
    first = _draw(pool, rng)
    rest = [entry for index, entry in enumerate(pool) if index != first]
    second = _draw(rest, rng)
    a, b = pool[first][0], rest[second][0]
    return (a, b) if rng.random() < 0.5 else (b, a)


def pair_probability(weights: Sequence[float], i: int, j: int) -> float:
    """The probability that :func:`pair_sample` draws the unordered pair {i, j}."""
    total = sum(w for w in weights if w > 0)
    wi, wj = weights[i], weights[j]
    if wi <= 0 or wj <= 0 or i == j:
        return 0.0
    return wi / total * wj / (total - wi) + wj / total * wi / (total - wj)


def _draw(pool: Sequence[tuple[object, float]], rng: random.Random) -> int:
    target = rng.random() * sum(weight for _, weight in pool)
    cumulative = 0.0
    for index, (_, weight) in enumerate(pool):
        cumulative += weight
        if target < cumulative:
            return index
    return len(pool) - 1
