"""Generating one side of one turn: the conversation that side sees, streamed to the page, persisted once.

The task (:func:`arena.tasks.battle_generate`) fetches nothing itself; it calls
:func:`answer_generate` with the ids it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

from model_adapters import AdapterError, GenerationSettings, Image, Message, ModelAdapter, StreamResult
from model_adapters.errors import ProviderError

from . import answers, streaming
from .adapters import generation_settings, model_adapter
from .images import adapter_image
from .leaks import LeakDetector, StreamScanner
from .liveness import Heartbeat
from .models import Answer, Battle, Turn, TurnImage
from .selectors import leak_detector_current

logger = logging.getLogger(__name__)
T = TypeVar("T")
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_SECONDS = 30.0
FINAL_WRITE_SECONDS = 120.0  # a streamed answer outlasts a database outage this long before it is only cached


@dataclass
class GenerationJob:
    battle_uuid: str
    turn_id: int
    turn_index: int
    side: str
    messages: list[Message]
    adapter: ModelAdapter
    settings: GenerationSettings
    detector: LeakDetector | None = None  # identity leaks, for anonymous battles


def answer_generate(*, turn_id: int, side: str) -> None:
    """Stream one side of one turn to the battle's group, then persist the answer once.

    Database calls ride out a transient outage (:func:`persistently`); the worker's database connection
    goes back to the pool while the model streams; a heartbeat tells the sweep this side is alive.
    """
    if not persistently(lambda: answers.answer_start(turn_id=turn_id, side=side), what=f"start {turn_id}/{side}"):
        logger.info("answer %s/%s already started; ignoring a duplicate delivery", turn_id, side)
        return
    with Heartbeat(turn_id, side):
        try:
            job = persistently(lambda: generation_job(turn_id, side), what=f"load {turn_id}/{side}")
        except (AdapterError, ValueError) as exc:
            refused: Exception = exc
            persistently(lambda: answers.answer_fail(turn_id=turn_id, side=side, error=refused),
                         what=f"save {turn_id}/{side}")
            return
        connection_release()
        text: str
        result: StreamResult | None
        error: Exception | None
        if streaming.stop_requested(turn_id, side):  # stopped while it waited in the queue: no model call at all
            text, result, error = "", _stopped_before_start(), None
        else:
            text, result, error = asyncio.run(_stream(job))
        if result is not None:
            finished = result
            answers.result_keep(turn_id, side, finished)  # the sweep finishes it if the database stays away
            persistently(lambda: answers.answer_finish(turn_id=turn_id, side=side, result=finished),
                         what=f"save {turn_id}/{side}", seconds=FINAL_WRITE_SECONDS)
        else:
            failure = error or ProviderError("no answer")
            persistently(lambda: answers.answer_fail(turn_id=turn_id, side=side, error=failure, partial_text=text),
                         what=f"save {turn_id}/{side}", seconds=FINAL_WRITE_SECONDS)


def persistently(call: Callable[[], T], *, what: str, seconds: float = DATABASE_RETRY_SECONDS) -> T:
    """``call()``, again after a back-off while the database is unreachable, for at most ``seconds``."""
    deadline, delay = time.monotonic() + seconds, 0.25
    while True:
        try:
            return call()
        except DATABASE_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("%s: the database failed (%s); retrying in %.2f s", what, exc, delay)
            connection_release()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def connection_release() -> None:
    """Hand this thread's database connection back (to the pool, if there is one); the next query opens one.

    Not inside a transaction (a test's, say): that connection is not ours to give back.
    """
    if connection.in_atomic_block:
        return
    with contextlib.suppress(*DATABASE_ERRORS):  # a broken connection is dropped all the same
        connection.close()


def generation_job(turn_id: int, side: str) -> GenerationJob:
    turn = Turn.objects.select_related("battle__model_a", "battle__model_b").get(pk=turn_id)
    battle = turn.battle
    model = battle.model_a if side == "a" else battle.model_b
    return GenerationJob(
        battle_uuid=battle.uuid.hex,
        turn_id=turn.id,
        turn_index=turn.index,
        side=side,
        messages=conversation(turn, side),
        adapter=model_adapter(model),
        settings=generation_settings(model),
        detector=leak_detector_current() if battle.mode == Battle.Mode.ANONYMOUS else None,
    )


def conversation(turn: Turn, side: str) -> list[Message]:
    """The messages one side sees: every earlier prompt with its own answers, then this prompt."""
    messages: list[Message] = []
    pictures = _turn_images(turn.battle_id)
    earlier = Answer.objects.filter(turn__battle=turn.battle_id, turn__index__lt=turn.index, side=side)
    for answer in earlier.select_related("turn").order_by("turn__index"):
        messages.append(Message("user", answer.turn.prompt, pictures.get(answer.turn_id, ())))
        messages.append(Message("assistant", answer.text))
    messages.append(Message("user", turn.prompt, pictures.get(turn.id, ())))
    return messages


def _turn_images(battle_id: int) -> dict[int, tuple[Image, ...]]:
    """The images of each turn of the battle, read from the image storage, in the order they were attached."""
    found: dict[int, list[Image]] = {}
    for use in TurnImage.objects.filter(turn__battle=battle_id).select_related("image").order_by("turn_id", "position"):
        found.setdefault(use.turn_id, []).append(adapter_image(use.image))
    return {turn_id: tuple(pictures) for turn_id, pictures in found.items()}


def _stopped_before_start() -> StreamResult:
    return StreamResult(text="", input_tokens=0, output_tokens=0, time_to_first_token=None, latency=0.0,
                        finish_reason="cancelled", tokens_counted=True)


async def _stream(job: GenerationJob) -> tuple[str, StreamResult | None, Exception | None]:
    """Relay the model's stream to the page; a voter's Stop (:func:`arena.streaming.stop_request`) cancels the
    relay, and leaving ``async with response`` then closes the provider's request and records the answer as
    ``cancelled`` with the text streamed so far."""
    response = job.adapter.stream(job.messages, job.settings)
    try:
        async with response:
            relaying = asyncio.ensure_future(streaming.relay(
                response, battle_uuid=job.battle_uuid, turn_id=job.turn_id, turn_index=job.turn_index, side=job.side,
                scanner=StreamScanner(job.detector) if job.detector is not None else None,
            ))
            watching = asyncio.ensure_future(_stop_watch(job, relaying))
            try:
                await relaying
            except asyncio.CancelledError:
                if not (watching.done() and watching.result()):
                    raise  # cancelled from outside, not by a Stop
            finally:
                watching.cancel()
    except AdapterError as exc:
        return response.text, None, exc
    except Exception as exc:
        logger.exception("generation of %s/%s failed unexpectedly", job.turn_id, job.side)
        return response.text, None, exc
    if response.result is None and watching.done() and not watching.cancelled() and watching.result():
        return response.text, _stopped_before_start(), None  # stopped before the model's first chunk
    return response.text, response.result, None


async def _stop_watch(job: GenerationJob, relaying: asyncio.Future[int]) -> bool:
    """Poll for a Stop while ``relaying`` runs; cancel it and return True when one comes."""
    while not relaying.done():
        await asyncio.sleep(streaming.STOP_POLL_SECONDS)
        if streaming.stop_requested(job.turn_id, job.side):
            relaying.cancel()
            return True
    return False
