from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from django.test import override_settings

from arena import answers, generation, liveness, reaper, selectors, services, streaming
from arena.errors import Conflict, InvalidInput, NotFound, Unavailable
from arena.generation import conversation
from arena.models import Answer, ArenaModel, Battle, Vote

from .conftest import run_turn

SESSION = "s" * 32


def create(**kwargs: Any) -> Battle:
    kwargs.setdefault("prompt", "Hello")
    kwargs.setdefault("session_key", SESSION)
    kwargs.setdefault("ip_hash", services.ip_hash("203.0.113.7"))
    return services.battle_create(**kwargs)


def test_it_starts_an_anonymous_battle_between_two_different_active_models(
    two_models, make_model, django_capture_on_commit_callbacks
) -> None:
    make_model(name="Paused", state=ArenaModel.State.PAUSED)
    make_model(name="Old", state=ArenaModel.State.DEPRECATED)
    with django_capture_on_commit_callbacks() as callbacks:
        battle = create(rng=random.Random(1))
    assert {battle.model_a.name, battle.model_b.name} == {"Alpha", "Beta"}
    assert battle.mode == Battle.Mode.ANONYMOUS and battle.status == Battle.Status.GENERATING
    turn = battle.turns.get()
    assert turn.index == 1 and turn.prompt == "Hello"
    assert sorted(turn.answers.values_list("side", "status")) == [("a", "pending"), ("b", "pending")]
    assert len(callbacks) == 1  # the generation tasks are queued only after the commit


def test_it_stores_a_salted_hash_of_the_ip_never_the_ip(two_models) -> None:
    battle = create()
    assert "203.0.113.7" not in battle.ip_hash
    assert len(battle.ip_hash) == 64
    assert battle.ip_hash == services.ip_hash("203.0.113.7") != services.ip_hash("203.0.113.8")
    with override_settings(ARENA_IP_SALT="another salt"):
        assert services.ip_hash("203.0.113.7") != battle.ip_hash


@pytest.mark.parametrize(
    ("prompt", "message"),
    [("", "Enter a prompt."), ("   \n ", "Enter a prompt."),
     (None, "The prompt must be text."), (42, "The prompt must be text.")],
)
def test_it_rejects_a_missing_or_non_text_prompt(two_models, prompt, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        create(prompt=prompt)
    assert Battle.objects.count() == 0


@override_settings(ARENA_MAX_PROMPT_CHARS=10)
def test_it_rejects_a_prompt_over_the_limit_and_writes_nothing(two_models) -> None:
    with pytest.raises(InvalidInput, match="limit is 10"):
        create(prompt="x" * 11)
    assert Battle.objects.count() == 0


def test_it_says_so_when_fewer_than_two_models_are_active(make_model) -> None:
    make_model(name="Lonely")
    with pytest.raises(Unavailable, match="at least two active models"):
        create()


def test_side_by_side_uses_the_chosen_models_in_the_chosen_positions(two_models) -> None:
    battle = create(mode="side_by_side", model_a="Beta", model_b="Alpha")
    assert (battle.model_a.name, battle.model_b.name) == ("Beta", "Alpha")


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [("Alpha", "Alpha", "two different"), ("Alpha", None, "Choose both"), ("Alpha", "Nope", "No active model is called 'Nope'")],
)
def test_side_by_side_rejects_a_bad_choice(two_models, a, b, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        create(mode="side_by_side", model_a=a, model_b=b)


def test_it_rejects_an_unknown_mode(two_models) -> None:
    with pytest.raises(InvalidInput, match="Unknown mode"):
        create(mode="battle royale")


def test_a_follow_up_continues_each_conversation_with_its_own_history(ready_battle) -> None:
    turn2 = services.turn_create(battle_uuid=ready_battle.uuid, session_key=SESSION, prompt="And then?")
    first = ready_battle.turns.get(index=1)
    answers = {a.side: a.text for a in first.answers.all()}
    assert answers["a"] != answers["b"]
    for side in ("a", "b"):
        history = conversation(turn2, side)
        assert [(m.role, m.content) for m in history] == [
            ("user", "Hello there"), ("assistant", answers[side]), ("user", "And then?")
        ]


def test_a_follow_up_waits_for_both_answers(two_models) -> None:
    battle = create()
    with pytest.raises(Conflict, match="Wait for both answers"):
        services.turn_create(battle_uuid=battle.uuid, session_key=SESSION, prompt="more")


@override_settings(ARENA_MAX_TURNS=2)
def test_a_battle_stops_taking_prompts_at_the_turn_limit(ready_battle) -> None:
    turn2 = services.turn_create(battle_uuid=ready_battle.uuid, session_key=SESSION, prompt="Two")
    run_turn(turn2)
    with pytest.raises(Conflict, match="limit of 2 turns"):
        services.turn_create(battle_uuid=ready_battle.uuid, session_key=SESSION, prompt="Three")
    assert ready_battle.turns.count() == 2


def test_another_session_cannot_see_or_continue_a_battle(ready_battle) -> None:
    with pytest.raises(NotFound):
        selectors.battle_of_session(ready_battle.uuid, "t" * 32)
    with pytest.raises(NotFound):
        services.turn_create(battle_uuid=ready_battle.uuid, session_key="t" * 32, prompt="hi")
    with pytest.raises(NotFound):
        services.battle_vote(battle_uuid=ready_battle.uuid, session_key="t" * 32, ip_hash="h", outcome="a")


def test_a_vote_is_recorded_once_and_counts_when_anonymous(ready_battle) -> None:
    vote, created = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="tie")
    assert created and vote.outcome == "tie" and vote.counts and vote.excluded_reason == ""
    assert vote.time_to_vote is not None and vote.time_to_vote >= 0
    ready_battle.refresh_from_db()
    assert ready_battle.status == Battle.Status.VOTED


def test_it_returns_the_same_vote_on_a_repeat(ready_battle) -> None:
    first, _ = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    again, created = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert not created and again.pk == first.pk
    assert Vote.objects.count() == 1


def test_it_rejects_a_second_different_vote(ready_battle) -> None:
    services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    with pytest.raises(Conflict, match="different vote"):
        services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="b")
    assert Vote.objects.get().outcome == "a"


def test_it_refuses_a_vote_before_both_answers_are_complete(two_models) -> None:
    battle = create()
    with pytest.raises(Conflict, match="both answers are complete"):
        services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert Vote.objects.count() == 0


@pytest.mark.parametrize("outcome", ["A", "left", "", None, 1])
def test_it_rejects_an_unknown_outcome(ready_battle, outcome) -> None:
    with pytest.raises(InvalidInput, match="must be one of a, b, tie, both_bad"):
        services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome=outcome)


def test_a_side_by_side_vote_is_stored_but_does_not_count(two_models) -> None:
    battle = create(mode="side_by_side", model_a="Alpha", model_b="Beta")
    run_turn(battle.turns.get())
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="b")
    assert not vote.counts and vote.excluded_reason == "side_by_side"


def test_a_failed_side_fails_the_battle_and_blocks_the_vote(make_model) -> None:
    make_model(name="Good")
    make_model(name="Broken", options={"delay": 0, "failure": "before_first"})
    battle = create(mode="side_by_side", model_a="Good", model_b="Broken")
    run_turn(battle.turns.get())
    battle.refresh_from_db()
    assert battle.status == Battle.Status.FAILED
    broken = Answer.objects.get(turn__battle=battle, side="b")
    assert broken.status == Answer.Status.FAILED and broken.error.startswith("ProviderError")
    assert broken.error_message == "The model's provider had an error."
    with pytest.raises(Conflict, match="cannot be voted on"):
        services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    with pytest.raises(Conflict, match="failed"):
        services.turn_create(battle_uuid=battle.uuid, session_key=SESSION, prompt="again")


def test_an_answer_no_worker_picks_up_fails_after_the_queue_timeout(two_models) -> None:
    from datetime import timedelta

    from django.utils import timezone

    battle = create()
    assert reaper.answers_expire() == 0  # still within the time a worker may take
    Answer.objects.filter(turn__battle=battle).update(queued_at=timezone.now() - timedelta(seconds=121))
    assert reaper.answers_expire() == 2
    battle.refresh_from_db()
    assert battle.status == Battle.Status.FAILED
    answer = Answer.objects.get(turn__battle=battle, side="a")
    assert answer.error == "AdapterTimeout: no worker picked up the generation task"
    assert answer.error_message == "The model took too long to answer."


def test_an_answer_whose_worker_died_mid_stream_fails_keeping_the_text_shown(make_model) -> None:
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from arena.tasks import battle_generate

    make_model(name="Quick")
    make_model(name="Slow", timeouts={"total": 30})
    battle = create(mode="side_by_side", model_a="Quick", model_b="Slow")
    turn = battle.turns.get()
    battle_generate(turn.id, "a")
    answers.answer_start(turn_id=turn.id, side="b")
    cache.set(f"arena:stream:{turn.id}:b", {"seq": 2, "text": "Half an ans"})
    Answer.objects.filter(turn=turn, side="b").update(started_at=timezone.now() - timedelta(seconds=60))
    liveness.Heartbeat(turn.id, "b").beat()  # the worker is streaming and beating
    assert reaper.answers_expire() == 0  # alive, and within 30 s total + 60 s grace
    cache.delete(liveness.heartbeat_key(turn.id, "b"))  # then it is killed: its heartbeat expires
    assert reaper.answers_expire() == 1
    dead = Answer.objects.get(turn=turn, side="b")
    assert dead.status == "failed" and dead.text == "Half an ans"
    assert dead.error == "AdapterTimeout: the worker stopped streaming the answer"
    battle_generate(turn.id, "b")  # the task turning up late changes nothing
    assert Answer.objects.get(turn=turn, side="b").text == "Half an ans"


def test_a_failed_side_is_asked_again_and_the_other_sides_answer_stays(make_model,
                                                                       django_capture_on_commit_callbacks) -> None:
    make_model(name="Good")
    broken = make_model(name="Broken", options={"delay": 0, "failure": "before_first"})
    battle = create(mode="side_by_side", model_a="Good", model_b="Broken")
    run_turn(battle.turns.get())
    battle.refresh_from_db()
    kept = Answer.objects.get(turn__battle=battle, side="a")
    assert battle.status == Battle.Status.FAILED and kept.status == "done"
    with pytest.raises(Conflict, match="Model A did not fail"):
        services.answer_retry(battle_uuid=battle.uuid, session_key=SESSION, side="a")
    broken.options = {"delay": 0}  # the provider is back
    broken.save()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        retried = services.answer_retry(battle_uuid=battle.uuid, session_key=SESSION, side="b")
    assert retried.status == Battle.Status.GENERATING and len(queued) == 1
    assert Answer.objects.get(turn__battle=battle, side="b").status == "pending"
    run_turn(battle.turns.get())  # a's task finds its answer closed and leaves it alone
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY
    assert Answer.objects.get(turn__battle=battle, side="a").text == kept.text
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="b")
    assert vote.outcome == "b"


def test_only_the_owner_may_retry_and_only_a_side_that_failed(ready_battle) -> None:
    with pytest.raises(NotFound):
        services.answer_retry(battle_uuid=ready_battle.uuid, session_key="t" * 32, side="a")
    with pytest.raises(InvalidInput, match="one of a, b"):
        services.answer_retry(battle_uuid=ready_battle.uuid, session_key="s" * 32, side="c")
    with pytest.raises(Conflict, match="did not fail"):
        services.answer_retry(battle_uuid=ready_battle.uuid, session_key="s" * 32, side="b")


def test_a_side_is_regenerated_before_the_vote_and_the_vote_records_it(ready_battle,
                                                                        django_capture_on_commit_callbacks) -> None:
    shown = Answer.objects.get(turn__battle=ready_battle, side="a")
    with pytest.raises(InvalidInput, match="one of a, b"):
        services.answer_regenerate(battle_uuid=ready_battle.uuid, session_key=SESSION, side="x")
    with pytest.raises(NotFound):
        services.answer_regenerate(battle_uuid=ready_battle.uuid, session_key="t" * 32, side="a")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        battle = services.answer_regenerate(battle_uuid=ready_battle.uuid, session_key=SESSION, side="a")
    assert battle.status == Battle.Status.GENERATING and len(queued) == 1
    again = Answer.objects.get(pk=shown.pk)
    assert again.status == "pending" and again.text == "" and again.regenerations == 1
    assert again.earlier == [{"text": shown.text, "finish_reason": "stop", "finished_at": shown.finished_at.isoformat()}]
    with pytest.raises(Conflict, match="Wait for both answers"):  # one regeneration at a time
        services.answer_regenerate(battle_uuid=ready_battle.uuid, session_key=SESSION, side="b")
    run_turn(battle.turns.get())
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY
    assert Answer.objects.get(pk=shown.pk).text == shown.text  # the demo model says the same again
    vote, _ = services.battle_vote(battle_uuid=battle.uuid, session_key=SESSION, ip_hash="h", outcome="a")
    assert vote.regenerated and vote.counts
    with pytest.raises(Conflict, match="voted"):
        services.answer_regenerate(battle_uuid=battle.uuid, session_key=SESSION, side="b")


def test_a_vote_without_regeneration_says_so(ready_battle) -> None:
    vote, _ = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h", outcome="tie")
    assert vote.regenerated is False


def test_stop_before_a_side_starts_saves_it_empty_without_calling_the_model(make_model, monkeypatch,
                                                                           django_capture_on_commit_callbacks) -> None:
    make_model(name="One")
    make_model(name="Two", provider_model="heron")
    with django_capture_on_commit_callbacks(execute=False):
        battle = create(rng=random.Random(3))  # anonymous, between the only two models
    with pytest.raises(NotFound):
        services.battle_stop(battle_uuid=battle.uuid, session_key="t" * 32)
    services.battle_stop(battle_uuid=battle.uuid, session_key=SESSION)

    def no_model_call(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a stopped side must not call its model")

    monkeypatch.setattr("arena.generation._stream", no_model_call)
    run_turn(battle.turns.get())
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY
    assert sorted(Answer.objects.filter(turn__battle=battle).values_list("side", "status", "finish_reason", "text")) == [
        ("a", "done", "cancelled", ""), ("b", "done", "cancelled", "")]
    assert selectors.battle_state(battle)["vote_notice"] == "incomplete_answer"
    with pytest.raises(Conflict, match="Nothing is being generated"):
        services.battle_stop(battle_uuid=battle.uuid, session_key=SESSION)


def test_stop_mid_stream_ends_the_model_call_and_keeps_the_text_so_far(make_model,
                                                                      django_capture_on_commit_callbacks) -> None:
    make_model(name="Talker", provider_model="echo", options={"delay": 0.01})
    make_model(name="Other")
    prompt = " ".join(f"word{i}" for i in range(400))  # about 200 chunks: two seconds of streaming
    with django_capture_on_commit_callbacks(execute=False):
        battle = create(mode="side_by_side", model_a="Talker", model_b="Other", prompt=prompt)
    turn = battle.turns.get()
    timer = threading.Timer(0.4, streaming.stop_request, args=(turn.id, "a"))
    started = time.monotonic()
    timer.start()
    generation.answer_generate(turn_id=turn.id, side="a")
    elapsed = time.monotonic() - started
    timer.join()
    answer = Answer.objects.get(turn=turn, side="a")
    assert answer.status == "done" and answer.finish_reason == "cancelled"
    assert 0 < len(answer.text) < len(prompt) and prompt.startswith(answer.text)
    assert elapsed < 1.5  # the demo model's generator was closed, not run to its end
