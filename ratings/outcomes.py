"""The outcome of a battle: the one vocabulary every other module imports.

An outcome is seen from model A. Each has four spellings, all defined here and nowhere else
(code / arena value / FastChat ``winner`` / score of A, ties counting half):

- ``A``: ``"a"``, ``"model_a"``, 1
- ``B``: ``"b"``, ``"model_b"``, 0
- ``TIE``: ``"tie"``, ``"tie"``, 0.5
- ``BOTH_BAD``: ``"both_bad"``, ``"tie (bothbad)"`` (``"both_bad"`` is read too), 0.5

The code is what the engine stores in ``Battles.outcome`` (an ``int8`` array); the arena value is
what the voter posts and the database holds; the FastChat string is what battle files carry. Model
B's score is ``1 - SCORE_A[code]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

import numpy as np


class Outcome(IntEnum):
    """The engine's code for the result of one battle, seen from model A."""

    A = 0
    B = 1
    TIE = 2
    BOTH_BAD = 3


A = Outcome.A
B = Outcome.B
TIE = Outcome.TIE
BOTH_BAD = Outcome.BOTH_BAD


@dataclass(frozen=True)
class Spelling:
    """How one outcome is written in each place, and what it is worth to model A."""

    code: Outcome
    arena: str
    label: str
    winner: str
    score_a: float


SPELLINGS: tuple[Spelling, ...] = (
    Spelling(A, "a", "A is better", "model_a", 1.0),
    Spelling(B, "b", "B is better", "model_b", 0.0),
    Spelling(TIE, "tie", "Tie", "tie", 0.5),
    Spelling(BOTH_BAD, "both_bad", "Both are bad", "tie (bothbad)", 0.5),
)

#: Arena value -> code.
FROM_ARENA: Mapping[str, Outcome] = MappingProxyType({s.arena: s.code for s in SPELLINGS})
#: Code -> arena value.
TO_ARENA: Mapping[Outcome, str] = MappingProxyType({s.code: s.arena for s in SPELLINGS})
#: FastChat ``winner`` -> code; ``both_bad`` is accepted as well, as some dumps spell it so.
FROM_WINNER: Mapping[str, Outcome] = MappingProxyType({**{s.winner: s.code for s in SPELLINGS}, "both_bad": BOTH_BAD})
#: Code -> the FastChat ``winner`` written in exports.
TO_WINNER: Mapping[Outcome, str] = MappingProxyType({s.code: s.winner for s in SPELLINGS})
#: (arena value, label) pairs for a choice field.
ARENA_CHOICES: tuple[tuple[str, str], ...] = tuple((s.arena, s.label) for s in SPELLINGS)

#: Score of model A indexed by code (``SCORE_A[battles.outcome]``); read-only.
SCORE_A = np.array([s.score_a for s in sorted(SPELLINGS, key=lambda s: s.code)])
SCORE_A.setflags(write=False)


def winner_from_arena(value: str) -> str:
    """The FastChat ``winner`` string for an arena outcome value."""
    return TO_WINNER[FROM_ARENA[value]]


def arena_from_winner(winner: str) -> str:
    """The arena outcome value for a FastChat ``winner`` string."""
    return TO_ARENA[FROM_WINNER[winner]]
