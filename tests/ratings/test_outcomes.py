from __future__ import annotations

import numpy as np
import pytest

from arena.models import Vote
from ratings import outcomes
from ratings.outcomes import BOTH_BAD, SCORE_A, TIE, A, B


def test_every_outcome_round_trips_through_each_spelling() -> None:
    for spelling in outcomes.SPELLINGS:
        assert outcomes.FROM_ARENA[spelling.arena] == spelling.code
        assert outcomes.TO_ARENA[spelling.code] == spelling.arena
        assert outcomes.FROM_WINNER[outcomes.TO_WINNER[spelling.code]] == spelling.code
        assert outcomes.arena_from_winner(outcomes.winner_from_arena(spelling.arena)) == spelling.arena


def test_fastchat_spellings_are_read_and_written_as_fastchat_writes_them() -> None:
    assert outcomes.winner_from_arena("both_bad") == "tie (bothbad)"
    assert outcomes.arena_from_winner("both_bad") == "both_bad"  # some dumps spell it the arena's way
    assert outcomes.arena_from_winner("model_b") == "b"
    with pytest.raises(KeyError):
        outcomes.arena_from_winner("model_c")


def test_ties_and_both_bad_are_worth_half_to_each_side() -> None:
    assert SCORE_A.tolist() == [1.0, 0.0, 0.5, 0.5]
    assert [SCORE_A[c] for c in (A, B, TIE, BOTH_BAD)] == [1.0, 0.0, 0.5, 0.5]
    with pytest.raises(ValueError):
        SCORE_A[0] = 0.0  # shared by every fit: read-only
    assert np.all(1 - SCORE_A[[A, B]] == SCORE_A[[B, A]])


def test_the_database_offers_exactly_the_arena_values_with_their_labels() -> None:
    field = Vote._meta.get_field("outcome")
    assert list(field.choices) == [("a", "A is better"), ("b", "B is better"), ("tie", "Tie"),
                                   ("both_bad", "Both are bad")]
