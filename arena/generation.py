"""Generating one side of one turn: the conversation that side sees, streamed to the page, persisted once.

The task (:func:`arena.tasks.battle_generate`) fetches nothing itself; it calls
:func:`answer_generate` with the ids it was given.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from model_adapters import AdapterError, GenerationSettings, Message, ModelAdapter, StreamResult
from model_adapters.errors import ProviderError

from . import answers, streaming
from .adapters import generation_settings, model_adapter
from .models import Answer, Turn

logger = logging.getLogger(__name__)


@dataclass
class GenerationJob:
    battle_uuid: str
    turn_id: int
    turn_index: int
    side: str
    messages: list[Message]
    adapter: ModelAdapter
    settings: GenerationSettings


def answer_generate(*, turn_id: int, side: str) -> None:
    """Stream one side of one turn to the battle's group, then persist the answer once."""
    if not answers.answer_start(turn_id=turn_id, side=side):
        logger.info("answer %s/%s already started; ignoring a duplicate delivery", turn_id, side)
        return
    try:
        job = generation_job(turn_id, side)
    except (AdapterError, ValueError) as exc:
        answers.answer_fail(turn_id=turn_id, side=side, error=exc)
        return
    text, result, error = asyncio.run(_stream(job))
    if result is not None:
        answers.answer_finish(turn_id=turn_id, side=side, result=result)
    else:
        answers.answer_fail(turn_id=turn_id, side=side, error=error or ProviderError("no answer"), partial_text=text)


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
    )


def conversation(turn: Turn, side: str) -> list[Message]:
    """The messages one side sees: every earlier prompt with its own answers, then this prompt."""
    messages: list[Message] = []
    earlier = Answer.objects.filter(turn__battle=turn.battle_id, turn__index__lt=turn.index, side=side)
    for answer in earlier.select_related("turn").order_by("turn__index"):
        messages.append(Message("user", answer.turn.prompt))
        messages.append(Message("assistant", answer.text))
    messages.append(Message("user", turn.prompt))
    return messages


async def _stream(job: GenerationJob) -> tuple[str, StreamResult | None, Exception | None]:
    response = job.adapter.stream(job.messages, job.settings)
    try:
        async with response:
            await streaming.relay(
                response, battle_uuid=job.battle_uuid, turn_id=job.turn_id, turn_index=job.turn_index, side=job.side
            )
    except AdapterError as exc:
        return response.text, None, exc
    except Exception as exc:
        logger.exception("generation of %s/%s failed unexpectedly", job.turn_id, job.side)
        return response.text, None, exc
    return response.text, response.result, None
