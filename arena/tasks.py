"""Celery tasks: fetch by id, then call a service."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from celery import shared_task

from model_adapters import AdapterError, GenerationSettings, Message, ModelAdapter, StreamResult
from model_adapters.errors import ProviderError

from . import checks, services, streaming
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


@shared_task(name="arena.battle_generate", ignore_result=True)
def battle_generate(turn_id: int, side: str) -> None:
    """Stream one side of one turn to the battle's group, then persist the answer once."""
    if not services.answer_start(turn_id=turn_id, side=side):
        logger.info("answer %s/%s already started; ignoring a duplicate delivery", turn_id, side)
        return
    try:
        job = generation_job(turn_id, side)
    except (AdapterError, ValueError) as exc:
        services.answer_fail(turn_id=turn_id, side=side, error=exc)
        return
    text, result, error = asyncio.run(_stream(job))
    if result is not None:
        services.answer_finish(turn_id=turn_id, side=side, result=result)
    else:
        services.answer_fail(turn_id=turn_id, side=side, error=error or ProviderError("no answer"), partial_text=text)


@shared_task(name="arena.adapter_check", ignore_result=True)
def adapter_check_task(model_id: int, token: str) -> None:
    """The admin's "Test" action, run where the model's keys and hardware are."""
    checks.adapter_check_report(model_id, token)


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
