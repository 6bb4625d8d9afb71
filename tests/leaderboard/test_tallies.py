"""The refresh's ledger (leaderboard.tallies) against the full count in SQL (leaderboard.counting), as votes arrive,
change, commit late, disappear, and as the thresholds change.

Runs on whichever database the test run uses: SQLite embedded, PostgreSQL with DATABASE_URL.
"""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from arena.models import ArenaModel, Battle, Vote, VoteChange
from arena.services import votes_exclude, votes_reinstate
from leaderboard import counting, ledger, tallies
from leaderboard.models import Ledger, LedgerChunk
from leaderboard.rules import Rules
from tests.leaderboard.test_counting import MIDNIGHT, RULES, random_arena, sql_cells

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many chunks, so that votes land in old ones, new ones and across their boundaries.
    monkeypatch.setattr(tallies, "CHUNK_VOTES", 37)


def assert_same_as_full_count(rules: Rules) -> tallies.Judgement:
    """Advance the ledger (loaded from the database, as a refresh does) and compare everything with the full count."""
    judgement = ledger.ledger_advance(rules)
    got, want = judgement.tally(), counting.tally(rules)
    assert sql_cells(got) == sql_cells(want)
    assert got.excluded == want.excluded
    assert got.capped.tolist() == want.capped.tolist()
    assert (got.votes, got.seen, got.last_vote, got.languages) == (want.votes, want.seen, want.last_vote,
                                                                   want.languages)
    assert judgement.fresh_votes() == counting.fresh_votes(rules)
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    counting.battle_styles_fill()
    mine, theirs = judgement.style_battles(names), counting.style_battles(rules, want, names)
    assert (mine is None) == (theirs is None)
    if mine is not None and theirs is not None:
        assert mine.models == theirs.models and mine.battles.names == theirs.battles.names
        for name in ("model_a", "model_b", "outcome", "style_a", "style_b"):
            assert np.array_equal(getattr(mine.battles, name), getattr(theirs.battles, name)), name
    assert not VoteChange.objects.exists()  # applied, then deleted
    return judgement


@pytest.mark.parametrize("seed", [11, 12])
def test_the_ledger_counts_what_the_full_count_counts_as_votes_arrive_and_change(seed: int) -> None:
    random_arena(seed, n=250)
    first = assert_same_as_full_count(RULES)
    assert first.judged_again == Vote.objects.count()  # a new ledger judges every vote
    assert LedgerChunk.objects.count() > 3

    # More votes, on the same addresses, UTC days and frequent prompts: old partitions and prompts change.
    random_arena(seed + 100, n=120)
    again = assert_same_as_full_count(RULES)
    assert again.judged_again < Vote.objects.count()  # only the new votes and their partitions

    # An admin's review and the anomalous-voter rule change votes already judged.
    busy = list(Vote.objects.filter(ip_hash="busy", counts=True).order_by("pk").values_list("pk", flat=True))
    assert votes_exclude(vote_ids=busy[:6] + busy[-3:], by="admin") > 0
    reinstated = list(Vote.objects.filter(counts=False).exclude(excluded_reason="side_by_side")
                      .values_list("pk", flat=True)[:5])
    assert votes_reinstate(vote_ids=reinstated, by="admin") > 0
    assert VoteChange.objects.exists()
    assert_same_as_full_count(RULES)

    # Nothing new: nothing judged again.
    assert ledger.ledger_advance(RULES).judged_again == 0


def test_a_vote_committed_late_or_deleted_is_found() -> None:
    random_arena(21, n=150)
    assert_same_as_full_count(RULES)
    ids = sorted(Vote.objects.values_list("pk", flat=True))
    gone = Vote.objects.get(pk=ids[40])
    battle, fields = gone.battle, {f: getattr(gone, f) for f in ("outcome", "counts", "excluded_reason",
                                                                    "time_to_vote", "session_key", "ip_hash")}
    gone.delete()  # a vote no longer in the database (it is never deleted by the arena, but a database can lose one)
    assert_same_as_full_count(RULES)
    # A vote with an id below the largest one judged, as a transaction that commits after a later one leaves it.
    Vote.objects.create(pk=ids[40], battle=battle, created_at=MIDNIGHT + timedelta(hours=1), **fields)
    Vote.objects.filter(pk=ids[40]).update(ip_hash="busy")
    assert_same_as_full_count(RULES)


def test_new_thresholds_start_a_new_ledger_and_drop_the_old() -> None:
    random_arena(31, n=150)
    assert_same_as_full_count(RULES)
    stricter = Rules(**{**RULES.__dict__, "max_votes_per_ip_per_day": 1, "min_vote_seconds": 7.5})
    rebuilt = assert_same_as_full_count(stricter)
    assert rebuilt.judged_again == Vote.objects.count()
    assert Ledger.objects.count() == 1
    # Rule 4's share is applied anew at every refresh: no new ledger for it.
    wider = Rules(**{**stricter.__dict__, "duplicate_prompt_share": 0.3})
    assert assert_same_as_full_count(wider).judged_again == 0


def test_an_empty_database_and_a_first_vote() -> None:
    assert ledger.ledger_advance(RULES).tally().votes == 0
    random_arena(41, n=3)
    assert_same_as_full_count(RULES)
    assert Battle.objects.filter(status=Battle.Status.FAILED).count() == 1


def test_a_vote_changed_behind_the_ledgers_back_counts_after_a_recount() -> None:
    random_arena(51, n=120)
    before = ledger.ledger_advance(RULES).tally().votes
    changed = list(Vote.objects.filter(counts=True).values_list("pk", flat=True)[:10])
    Vote.objects.filter(pk__in=changed).update(counts=False, excluded_reason="by_sql")  # no votes_changed
    assert ledger.ledger_advance(RULES).tally().votes == before  # not seen: why the command exists
    with override_settings(ARENA_MIN_VOTE_SECONDS=RULES.min_vote_seconds, ARENA_MAX_VOTES_PER_IP_PER_DAY=3,
                           ARENA_LONG_PROMPT_CHARS=50, ARENA_DUPLICATE_PROMPT_SHARE=0.02,
                           ARENA_DUPLICATE_PROMPT_MIN_VOTES=4, ARENA_CATEGORY_MIN_VOTES=1):
        call_command("leaderboard_refresh", "--recount", "--rounds", "5", "--no-progress", stdout=io.StringIO())
    assert_same_as_full_count(RULES)
    assert Ledger.objects.get().votes == Vote.objects.count()
