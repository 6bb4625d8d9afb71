"""The rules applied when a vote is cast: identity leaks, incomplete answers, and an admin's review."""

from __future__ import annotations

from typing import Any

import pytest

from arena import services
from arena.leaks import StreamScanner, leak_detector, terms_of
from arena.models import Answer, Battle, Vote
from arena.selectors import battle_state

from .conftest import run_turn

SESSION = "s" * 32


def battle_answered(prompt: str, capture: Any, **kwargs: Any) -> Battle:
    with capture(execute=False):
        battle = services.battle_create(prompt=prompt, session_key=SESSION, ip_hash="h", **kwargs)
    run_turn(battle.turns.get())
    battle.refresh_from_db()
    return battle


# ---- detection -------------------------------------------------------------------------------------------------------


def test_terms_are_the_name_the_organisation_and_each_alias() -> None:
    assert terms_of("gpt-4o-mini", "OpenAI", "ChatGPT, GPT-4o\nGPT4\nAI") == [
        "gpt-4o-mini", "OpenAI", "ChatGPT", "GPT-4o", "GPT4"]  # "AI" is too short to mean anything


@pytest.mark.parametrize(("text", "found"), [
    ("As ChatGPT, I think so.", ["chatgpt"]),
    ("I am gpt 4o, made by openai.", ["gpt 4o", "openai"]),
    ("Trained as GPT4o.", ["gpt4o"]),
    ("I'm CLAUDE.", ["claude"]),
    ("The metadata of a chatgpts file", []),  # whole words only
    ("Claude's view", ["claude"]),
    ("Nothing to see here.", []),
])
def test_the_detector_finds_whole_terms_in_any_case_and_spelling(text: str, found: list[str]) -> None:
    detector = leak_detector(["ChatGPT", "GPT-4o", "OpenAI", "Claude", "Meta"])
    assert detector.find(text) == found


def test_a_term_split_across_streamed_pieces_is_found_once() -> None:
    scanner = StreamScanner(leak_detector(["Anthropic"]))
    assert scanner.feed("I was made by Anth") == []
    assert scanner.feed("ropic, a company.") == ["anthropic"]
    assert scanner.feed(" Anthropic again.") == []
    assert scanner.found == ["anthropic"]


# ---- the vote path ---------------------------------------------------------------------------------------------------


def test_an_answer_naming_a_model_is_a_leak_the_voter_is_told_of_and_the_vote_does_not_count(
        two_models, django_capture_on_commit_callbacks) -> None:
    # The demo models repeat the start of the prompt, so asking about Beta makes both answers name it.
    battle = battle_answered("Is Beta any good at poems?", django_capture_on_commit_callbacks)
    assert battle.status == Battle.Status.READY
    leaks = set(Answer.objects.filter(turn__battle=battle).values_list("leaks", flat=True).first())
    assert leaks == {"beta"}
    assert battle_state(battle)["vote_notice"] == "identity_leak"  # shown before the vote
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert (vote.counts, vote.excluded_reason) == (False, "identity_leak")
    assert {(a["side"], tuple(a["terms"])) for a in vote.evidence["answers"]} == {("a", ("beta",)), ("b", ("beta",))}


def test_an_organisation_or_alias_of_any_arena_model_is_a_leak(make_model, django_capture_on_commit_callbacks) -> None:
    make_model(name="Alpha")
    make_model(name="Beta")
    make_model(name="Gamma", organization="Initech", aliases="Gammy", state="paused")
    battle = battle_answered("Tell me about Gammy", django_capture_on_commit_callbacks)
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="tie")
    assert vote.excluded_reason == "identity_leak"


def test_an_ordinary_answer_is_no_leak_and_counts(two_models, django_capture_on_commit_callbacks) -> None:
    battle = battle_answered("What is a good name for a cat?", django_capture_on_commit_callbacks)
    assert battle_state(battle)["vote_notice"] == ""
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="b")
    assert (vote.counts, vote.excluded_reason, vote.evidence) == (True, "", {})


def test_a_side_by_side_battle_is_judged_as_side_by_side_whatever_it_says(two_models,
                                                                         django_capture_on_commit_callbacks) -> None:
    battle = battle_answered("Is Beta good?", django_capture_on_commit_callbacks, mode="side_by_side",
                             model_a="Alpha", model_b="Beta")
    assert not Answer.objects.filter(turn__battle=battle).exclude(leaks=[]).exists()  # names are public here
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="b")
    assert vote.excluded_reason == "side_by_side"


def test_an_answer_cut_off_at_the_token_limit_leaves_the_vote_out(make_model,
                                                                  django_capture_on_commit_callbacks) -> None:
    make_model(name="Alpha")
    make_model(name="Beta", generation={"max_tokens": 3})
    battle = battle_answered("Explain how tides work", django_capture_on_commit_callbacks)
    assert set(Answer.objects.filter(turn__battle=battle).values_list("finish_reason", flat=True)) == {"stop", "length"}
    assert battle_state(battle)["vote_notice"] == "incomplete_answer"
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert (vote.counts, vote.excluded_reason) == (False, "incomplete_answer")
    side = "a" if battle.model_a.name == "Beta" else "b"  # the pair's order is drawn at random
    assert vote.evidence == {"answers": [{"turn": 1, "side": side, "finish_reason": "length"}]}


def test_a_stream_that_ends_without_a_finish_reason_is_incomplete(ready_battle) -> None:
    Answer.objects.filter(turn__battle=ready_battle, side="a").update(finish_reason="incomplete")
    vote, _ = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert vote.excluded_reason == "incomplete_answer"


# ---- review ----------------------------------------------------------------------------------------------------------


def test_an_admin_reinstates_a_left_out_vote_keeping_its_history(two_models,
                                                                  django_capture_on_commit_callbacks) -> None:
    battle = battle_answered("Is Beta any good?", django_capture_on_commit_callbacks)
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    with django_capture_on_commit_callbacks(execute=False):
        assert services.votes_reinstate(vote_ids=[vote.pk], by="root") == 1
        assert services.votes_reinstate(vote_ids=[vote.pk], by="root") == 0  # already counts
    vote.refresh_from_db()
    assert vote.counts and vote.excluded_reason == "identity_leak" and vote.reinstated_by == "root"
    assert vote.reinstated_at is not None


def test_side_by_side_votes_cannot_be_reinstated(two_models, django_capture_on_commit_callbacks) -> None:
    battle = battle_answered("Hi", django_capture_on_commit_callbacks, mode="side_by_side", model_a="Alpha",
                             model_b="Beta")
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert services.votes_reinstate(vote_ids=[vote.pk], by="root") == 0
    assert not Vote.objects.get(pk=vote.pk).counts


def test_an_admin_excludes_a_vote_which_is_kept_with_the_review(ready_battle,
                                                                 django_capture_on_commit_callbacks) -> None:
    vote, _ = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    with django_capture_on_commit_callbacks(execute=False):
        assert services.votes_exclude(vote_ids=[vote.pk], by="root") == 1
    vote.refresh_from_db()
    assert (vote.counts, vote.excluded_reason) == (False, "admin_review")
    assert vote.evidence["review"]["by"] == "root" and vote.evidence["review"]["was"] == "counted"
    assert "reviewed by root" in services.evidence_summary(vote.evidence)


def test_the_review_page_lists_votes_with_their_reason_and_reinstates(admin_client_, two_models,
                                                                      django_capture_on_commit_callbacks) -> None:
    battle = battle_answered("Is Beta any good?", django_capture_on_commit_callbacks)
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    page = admin_client_.get("/admin/arena/vote/?counts__exact=0")
    assert page.status_code == 200
    assert b"identity_leak" in page.content and b"turn 1 A: beta" in page.content
    assert admin_client_.get("/admin/arena/vote/?regenerated__exact=0").status_code == 200  # a filter of its own
    assert admin_client_.get("/admin/arena/vote/?regenerated__exact=1").context["cl"].result_count == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post("/admin/arena/vote/", {"action": "reinstate_votes", "_selected_action": [vote.pk]})
    assert response.status_code == 302
    assert Vote.objects.get(pk=vote.pk).counts


@pytest.mark.django_db
async def test_the_relay_announces_a_leak_to_the_page_while_the_answer_streams(monkeypatch) -> None:
    import asyncio
    from collections.abc import AsyncIterator

    from django.test import override_settings

    from arena import streaming

    events: list[dict[str, Any]] = []

    async def record(battle_uuid: Any, payload: dict[str, Any]) -> None:
        events.append(payload)

    async def chunks() -> AsyncIterator[str]:
        for piece in ("I am Clau", "de, made by", " Anthropic.", " Bye."):
            yield piece
            await asyncio.sleep(0.02)

    monkeypatch.setattr(streaming, "group_event", record)
    scanner = StreamScanner(leak_detector(["Claude", "Anthropic"]))
    with override_settings(ARENA_COALESCE_MS=1, ARENA_COALESCE_CHUNKS=1):
        await streaming.relay(chunks(), battle_uuid="f" * 32, turn_id=7, turn_index=1, side="b", scanner=scanner)
    kinds = [e["type"] for e in events]
    assert kinds == ["chunk", "chunk", "identity_leak", "chunk", "chunk"]  # once, as soon as "Claude" is complete
    assert events[2] == {"type": "identity_leak", "turn": 1, "side": "b"}
    assert scanner.found == ["claude", "anthropic"]


def test_a_battle_keeps_the_fingerprint_of_its_normalised_first_prompt(two_models,
                                                                       django_capture_on_commit_callbacks) -> None:
    from arena.prompts import prompt_fingerprint

    with django_capture_on_commit_callbacks(execute=False):
        one = services.battle_create(prompt="Tell me a joke!", session_key=SESSION, ip_hash="h")
        two = services.battle_create(prompt="  tell me a JOKE ", session_key=SESSION, ip_hash="h")
    assert one.prompt_fingerprint == two.prompt_fingerprint == prompt_fingerprint("tell me a joke")
