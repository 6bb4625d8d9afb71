"""Stuck answers are failed by the beat schedule's sweep, not by whoever happens to read the battle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from arena import answers, liveness, reaper, services
from arena.models import Answer, Battle, Turn
from arena.tasks import answers_expire, battle_generate
from model_adapters import StreamResult

from .conftest import post_json

pytestmark = pytest.mark.django_db


def overdue_battle(client: Client) -> Battle:
    """A battle whose generation tasks no worker picked up, past the queue timeout."""
    response = post_json(client, "/api/battles", {"prompt": "Anyone there?"})
    assert response.status_code == 201
    battle = Battle.objects.get(uuid=response.json()["id"])
    long_ago = timezone.now() - timedelta(seconds=settings.ARENA_QUEUE_TIMEOUT + 1)
    Answer.objects.filter(turn__battle=battle).update(queued_at=long_ago)
    return battle


def test_reading_a_stuck_battle_changes_nothing(session_client: Client, two_models) -> None:
    battle = overdue_battle(session_client)
    for _ in range(2):
        body = session_client.get(f"/api/battles/{battle.uuid}").json()
        assert body["status"] == "generating"
        assert {side["status"] for side in body["turns"][0]["answers"].values()} == {"pending"}
    assert set(Answer.objects.filter(turn__battle=battle).values_list("status", flat=True)) == {"pending"}


def test_the_sweep_fails_stuck_answers_and_the_page_then_reads_the_failure(session_client: Client, two_models) -> None:
    battle = overdue_battle(session_client)
    answers_expire()
    body = session_client.get(f"/api/battles/{battle.uuid}").json()
    assert body["status"] == "failed"
    assert {side["error"] for side in body["turns"][0]["answers"].values()} == {"The model took too long to answer."}


def test_the_sweep_leaves_answers_that_may_still_finish_alone(session_client: Client, two_models) -> None:
    response = post_json(session_client, "/api/battles", {"prompt": "Take your time"})
    answers_expire()
    assert session_client.get(f"/api/battles/{response.json()['id']}").json()["status"] == "generating"


def test_the_beat_schedule_runs_the_sweep_every_few_seconds() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["arena-answers-expire"]
    assert entry["task"] == answers_expire.name == "arena.answers_expire"
    assert entry["schedule"] == settings.ARENA_EXPIRE_EVERY_SECONDS <= 30


def started_side_by_side(make_model: Any, *, timeouts: dict[str, float] | None = None) -> Turn:
    """A battle whose side B a worker started (and then stopped working on, or not)."""
    make_model(name="Quick")
    make_model(name="Slow", timeouts=timeouts or {})
    battle = services.battle_create(prompt="Hello", session_key="s" * 32, ip_hash="h", mode="side_by_side",
                                    model_a="Quick", model_b="Slow")
    turn = battle.turns.get()
    battle_generate(turn.id, "a")
    answers.answer_start(turn_id=turn.id, side="b")
    cache.set(f"arena:stream:{turn.id}:b", {"seq": 1, "text": "So far"})
    started = timezone.now() - timedelta(seconds=settings.ARENA_HEARTBEAT_TTL + 1)  # long enough to have beaten
    Answer.objects.filter(turn=turn, side="b").update(started_at=started)
    return turn


def test_a_worker_that_beats_but_hangs_past_the_models_timeout_is_failed(make_model) -> None:
    turn = started_side_by_side(make_model, timeouts={"total": 30})
    liveness.Heartbeat(turn.id, "b").beat()
    Answer.objects.filter(turn=turn, side="b").update(started_at=timezone.now() - timedelta(seconds=91))
    assert reaper.answers_expire() == 1  # 30 s total + 60 s grace are over, heartbeat or not
    hung = Answer.objects.get(turn=turn, side="b")
    assert hung.status == "failed" and hung.text == "So far"
    assert hung.error == "AdapterTimeout: the answer took longer than allowed"


def test_an_answer_that_finished_streaming_is_saved_by_the_sweep_when_its_worker_could_not(make_model) -> None:
    turn = started_side_by_side(make_model)
    result = StreamResult(text="So far, and the rest.", input_tokens=3, output_tokens=6, time_to_first_token=0.1,
                          latency=1.5, finish_reason="stop")
    answers.result_keep(turn.id, "b", result)  # the worker kept it, then lost the database and died
    assert reaper.answers_expire() == 1
    saved = Answer.objects.get(turn=turn, side="b")
    assert (saved.status, saved.text, saved.output_tokens, saved.finish_reason) == ("done", result.text, 6, "stop")
    assert Battle.objects.get(pk=turn.battle_id).status == "ready"


def test_a_side_whose_task_never_reached_the_broker_is_queued_again(make_model, monkeypatch) -> None:
    make_model(name="One")
    make_model(name="Two")
    battle = services.battle_create(prompt="Hello", session_key="s" * 32, ip_hash="h", mode="side_by_side",
                                    model_a="One", model_b="Two")  # outside a captured commit: nothing queued
    turn = battle.turns.get()
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(battle_generate, "apply_async", lambda args, kwargs=None, queue="": queued.append((*args, queue)))
    assert reaper.answers_expire() == 0
    assert sorted(queued) == [(turn.id, "a", "default"), (turn.id, "b", "default")]
    assert liveness.dispatched(turn.id, "a") and liveness.dispatched(turn.id, "b")
    queued.clear()
    assert reaper.answers_expire() == 0
    assert queued == []  # marked as queued: not sent twice


def test_a_battle_is_saved_and_answered_even_when_the_broker_refuses_its_tasks(
    session_client: Client, two_models, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(battle_generate, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(session_client, "/api/battles", {"prompt": "Hello?"})
    assert response.status_code == 201  # the battle was committed, so it is not reported as failed
    turn = Battle.objects.get(uuid=response.json()["id"]).turns.get()
    assert not liveness.dispatched(turn.id, "a")
    monkeypatch.undo()
    monkeypatch.setattr(battle_generate, "apply_async", lambda args, kwargs=None, queue="": battle_generate(*args))  # broker back
    reaper.answers_expire()
    assert set(Answer.objects.filter(turn=turn).values_list("status", flat=True)) == {"done"}


def test_a_retried_side_of_an_old_turn_gets_the_full_queue_time_again(make_model) -> None:
    make_model(name="Good")
    make_model(name="Broken", options={"delay": 0, "failure": "before_first"})
    battle = services.battle_create(prompt="Hello", session_key="s" * 32, ip_hash="h", mode="side_by_side",
                                    model_a="Good", model_b="Broken")
    turn = battle.turns.get()
    battle_generate(turn.id, "a")
    battle_generate(turn.id, "b")  # fails
    Battle.objects.filter(pk=battle.pk).update(created_at=timezone.now() - timedelta(hours=1))
    turn.__class__.objects.filter(pk=turn.pk).update(created_at=timezone.now() - timedelta(hours=1))
    services.answer_retry(battle_uuid=battle.uuid, session_key="s" * 32, side="b")
    liveness.dispatch_mark(turn.id, "b")
    assert reaper.answers_expire() == 0  # queued just now: a worker may still pick it up
    assert Answer.objects.get(turn=turn, side="b").status == "pending"
