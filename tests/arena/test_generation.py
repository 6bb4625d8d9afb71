from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from arena import services, streaming
from arena.models import Answer, Battle
from arena.tasks import battle_generate

from .conftest import run_turn

SESSION = "s" * 32


# These tests listen from plain sync code, one event loop per call; a pub/sub layer's subscriptions belong to
# one loop, so they listen on the in-process layer. tests/arena/test_distributed.py streams over Redis.
IN_PROCESS_LAYER = override_settings(
    CHANNEL_LAYERS={"default": {"BACKEND": "config.channel_layers.ThreadSafeInMemoryChannelLayer"}})


def listen(battle: Battle) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(streaming.battle_group(battle.uuid), channel)
    return channel


def drain(channel: str) -> list[dict[str, Any]]:
    layer = get_channel_layer()

    async def receive_all() -> list[dict[str, Any]]:
        events = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.5)
            except TimeoutError:
                return events
            events.append(message["payload"])

    return async_to_sync(receive_all)()


def start(models: tuple[str, str], **kwargs: Any) -> Battle:
    return services.battle_create(
        prompt="Explain recursion with some python code", session_key=SESSION, ip_hash="h",
        mode="side_by_side", model_a=models[0], model_b=models[1], **kwargs,
    )


@IN_PROCESS_LAYER
def test_both_answers_stream_as_numbered_coalesced_chunks_that_add_up_to_the_saved_text(
    make_model, django_capture_on_commit_callbacks
) -> None:
    make_model(name="Long", provider_model="ibis")
    make_model(name="Markdown", provider_model="heron")
    battle = start(("Long", "Markdown"))
    channel = listen(battle)
    with django_capture_on_commit_callbacks(execute=True):
        run_turn(battle.turns.get())
    events = drain(channel)
    for side in ("a", "b"):
        chunks = [e for e in events if e["type"] == "chunk" and e["side"] == side]
        saved = Answer.objects.get(turn__battle=battle, side=side)
        assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
        assert "".join(c["text"] for c in chunks) == saved.text != ""
        assert saved.status == "done" and saved.output_tokens > 0 and saved.latency is not None
        assert saved.time_to_first_token is not None and saved.time_to_first_token <= saved.latency
        raw_pieces = len(streaming_pieces(saved.text))
        assert len(chunks) < raw_pieces  # coalesced: fewer messages than the model's chunks
    done = [e for e in events if e["type"] == "side_done"]
    assert sorted(e["side"] for e in done) == ["a", "b"]
    assert done[-1]["battle_status"] == "ready"


def streaming_pieces(text: str) -> list[str]:
    from model_adapters.demo import _chunks

    return _chunks(text, 0)


def test_answers_are_written_once_not_per_chunk(make_model) -> None:
    make_model(name="Short", provider_model="pelican")
    make_model(name="Long", provider_model="ibis")
    queries_for, texts = {}, {}
    for first in ("Short", "Long"):
        turn = start((first, "Long" if first == "Short" else "Short")).turns.get()
        with CaptureQueriesContext(connection) as queries:
            battle_generate(turn.id, "a")
        queries_for[first] = len(queries)
        texts[first] = Answer.objects.get(turn=turn, side="a").text
    assert len(streaming_pieces(texts["Long"])) > 2 * len(streaming_pieces(texts["Short"]))
    assert queries_for["Short"] == queries_for["Long"]


@IN_PROCESS_LAYER
def test_a_side_failing_mid_stream_keeps_the_text_shown_and_tells_the_voter(
    make_model, django_capture_on_commit_callbacks
) -> None:
    make_model(name="Good")
    make_model(name="Flaky", provider_model="ibis", options={"delay": 0, "failure": "mid_stream"})
    battle = start(("Good", "Flaky"))
    channel = listen(battle)
    with django_capture_on_commit_callbacks(execute=True):
        run_turn(battle.turns.get())
    flaky = Answer.objects.get(turn__battle=battle, side="b")
    relayed = "".join(e["text"] for e in drain_side(channel, "b", "chunk"))
    assert flaky.status == "failed" and flaky.text and flaky.text == relayed
    battle.refresh_from_db()
    assert battle.status == Battle.Status.FAILED


def drain_side(channel: str, side: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in drain(channel) if e["type"] == kind and e["side"] == side]


def test_a_duplicate_task_delivery_does_not_generate_twice(make_model) -> None:
    make_model(name="One")
    make_model(name="Two")
    battle = start(("One", "Two"))
    turn = battle.turns.get()
    battle_generate(turn.id, "a")
    text = Answer.objects.get(turn=turn, side="a").text
    battle_generate(turn.id, "a")
    assert Answer.objects.get(turn=turn, side="a").text == text


def test_an_adapter_misconfiguration_fails_the_side_with_a_clear_error(make_model) -> None:
    make_model(name="Fine")
    make_model(name="Misconfigured", provider_model="no-such-persona")
    battle = start(("Fine", "Misconfigured"))
    run_turn(battle.turns.get())
    failed = Answer.objects.get(turn__battle=battle, side="b")
    assert failed.status == "failed"
    assert "ConfigurationError" in failed.error and "no-such-persona" in failed.error
    assert failed.error_message == "This model is not configured correctly."


async def _scripted(pieces: list[tuple[float, str]]) -> AsyncIterator[str]:
    for delay, text in pieces:
        await asyncio.sleep(delay)
        yield text


async def test_the_coalescer_groups_by_count_and_flushes_after_the_interval() -> None:
    sent: list[tuple[int, str, float]] = []
    loop = asyncio.get_running_loop()
    start_time = loop.time()

    async def publish(seq: int, text: str) -> None:
        sent.append((seq, text, loop.time() - start_time))

    coalescer = streaming.Coalescer(publish, interval=0.05, max_chunks=3)
    await coalescer.add("a")          # the first chunk goes at once
    for piece in "bcd":
        await coalescer.add(piece)    # the third pending chunk triggers a flush by count
    await coalescer.add("e")          # a lone chunk is flushed by the timer, not left waiting
    await asyncio.sleep(0.15)
    assert [(s, t) for s, t, _ in sent] == [(1, "a"), (2, "bcd"), (3, "e")]
    assert sent[2][2] >= 0.04


@pytest.mark.django_db
async def test_the_relay_keeps_the_text_so_far_for_a_reconnecting_page() -> None:
    seen: list[tuple[int, str]] = []

    async def chunks() -> AsyncIterator[str]:
        for piece in ("Hel", "lo", " world"):
            yield piece
            await asyncio.sleep(0.08)
            seen.append(streaming.buffer_read(7, "a"))

    with_settings = {"ARENA_COALESCE_MS": 10, "ARENA_COALESCE_CHUNKS": 8}
    from django.test import override_settings

    with override_settings(**with_settings):
        count = await streaming.relay(chunks(), battle_uuid="f" * 32, turn_id=7, turn_index=1, side="a")
    assert count == 3
    assert seen == [(1, "Hel"), (2, "Hello"), (3, "Hello world")]


def test_a_streamed_answer_is_saved_after_the_database_comes_back(make_model, monkeypatch) -> None:
    from django.db import OperationalError

    from arena import answers, generation

    make_model(name="One")
    make_model(name="Two")
    turn = start(("One", "Two")).turns.get()
    real_finish, attempts = answers.answer_finish, []

    def finish_when_the_database_is_back(**kwargs: Any) -> None:
        attempts.append(kwargs["side"])
        if len(attempts) <= 2:
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        real_finish(**kwargs)

    monkeypatch.setattr(answers, "answer_finish", finish_when_the_database_is_back)
    monkeypatch.setattr(generation.time, "sleep", lambda seconds: None)
    battle_generate(turn.id, "a")
    saved = Answer.objects.get(turn=turn, side="a")
    assert attempts == ["a", "a", "a"]  # two refused writes, then the saved one
    assert saved.status == "done" and saved.text and saved.finish_reason == "stop"


def test_a_stream_whose_worker_never_reaches_the_database_again_is_left_for_the_sweep(make_model,
                                                                                     monkeypatch) -> None:
    from django.db import OperationalError

    from arena import answers, generation

    make_model(name="One")
    make_model(name="Two")
    turn = start(("One", "Two")).turns.get()

    def database_gone(**kwargs: Any) -> None:
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(answers, "answer_finish", database_gone)
    monkeypatch.setattr(generation, "FINAL_WRITE_SECONDS", 0.0)
    with pytest.raises(OperationalError):
        battle_generate(turn.id, "a")
    kept = answers.result_kept(turn.id, "a")
    assert kept is not None and kept.text and kept.finish_reason == "stop"  # nothing that streamed is lost


def test_a_redis_blink_while_relaying_does_not_fail_the_answer(make_model, monkeypatch) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    make_model(name="One")
    make_model(name="Two")
    turn = start(("One", "Two")).turns.get()
    sent = []

    async def blinking(battle_uuid: Any, payload: dict[str, Any]) -> None:
        sent.append(payload["seq"])
        if len(sent) == 2:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(streaming, "group_event", blinking)
    battle_generate(turn.id, "a")
    saved = Answer.objects.get(turn=turn, side="a")
    assert len(sent) > 2  # it kept relaying after the failed message
    assert saved.status == "done" and saved.text
