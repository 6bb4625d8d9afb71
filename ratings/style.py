"""Style features of answers: length and Markdown headers, lists and bold.

Style control (FastChat's method) explains part of each vote by how the two answers look rather
than by which model wrote them. Each feature enters as a normalised difference
``(a - b) / (a + b)`` (0 when both are 0), standardised over the battles, so its coefficient is
on the same logit scale as the strengths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold")

_HEADER = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_counts(text: str) -> tuple[float, float, float, float]:
    """Count the style features of one answer.

    Length is in whitespace-separated words (a tokenizer-free stand-in for tokens); headers,
    list items and bold spans are counted with line-anchored Markdown patterns.
    """
    return (
        float(len(text.split())),
        float(len(_HEADER.findall(text))),
        float(len(_LIST_ITEM.findall(text))),
        float(len(_BOLD.findall(text))),
    )


def style_from_metadata(metadata: Mapping[str, Any]) -> tuple[float, ...] | None:
    """Read FastChat's ``conv_metadata`` into ``(features of A..., features of B...)``.

    Returns ``None`` when a field is missing or not numeric, so such battles simply carry no style.
    """
    try:
        values = []
        for side in ("a", "b"):
            values.append(float(metadata[f"sum_assistant_{side}_tokens"]))
            for field in ("header_count", "list_count", "bold_count"):
                counts = metadata[f"{field}_{side}"]
                values.append(float(sum(counts.values())) if isinstance(counts, Mapping) else float(counts))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return tuple(values)


BLOCK = 1 << 17  # battles per block when a pass over the battles works block by block


def normalised_differences(style_a: NDArray[Any], style_b: NDArray[Any]) -> NDArray[np.float64]:
    """``(a - b) / (a + b)`` per feature (0 where both are 0), in float64 whatever the counts' type."""
    a = np.asarray(style_a, dtype=np.float64)
    b = np.asarray(style_b, dtype=np.float64)
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total != 0)


def style_scaling(style_a: NDArray[Any], style_b: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The mean and (population) standard deviation of each normalised difference over the battles.

    Computed in two passes block by block, so that no array the size of all the battles' features is
    ever held: the refresh's style-controlled view has one row per counted vote.
    """
    n, k = len(style_a), style_a.shape[1]
    if not n:
        return np.zeros(k), np.ones(k)
    total = np.zeros(k)
    for lo in range(0, n, BLOCK):
        total += normalised_differences(style_a[lo:lo + BLOCK], style_b[lo:lo + BLOCK]).sum(axis=0)
    center = total / n
    squares = np.zeros(k)
    for lo in range(0, n, BLOCK):
        squares += np.square(normalised_differences(style_a[lo:lo + BLOCK], style_b[lo:lo + BLOCK]) - center).sum(axis=0)
    return center, np.sqrt(squares / n)


def standardised(diff: NDArray[np.float64], center: NDArray[np.float64], scale: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
    """Normalised differences centred and divided by their spread (left centred where the spread is 0)."""
    diff = diff - center
    return np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)


def style_differences(style_a: NDArray[Any], style_b: NDArray[Any]) -> NDArray[np.float64]:
    """Standardised normalised differences of the two answers' style counts.

    Parameters
    ----------
    style_a, style_b
        Raw counts, shape ``(n_battles, n_features)``, of any numeric type.

    Returns
    -------
    ndarray
        ``(a - b) / (a + b)`` per feature (0 where both are 0), centred and divided by its standard
        deviation over the battles (left centred where that is 0).
    """
    center, scale = style_scaling(style_a, style_b)
    return standardised(normalised_differences(style_a, style_b), center, scale)
