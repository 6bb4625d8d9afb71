"""Every write to an answer: a worker starting, finishing or failing a side (the sweep in :mod:`arena.reaper` too).

Each closes the answer once (a late or duplicate task finds it closed and changes nothing),
moves the battle on, and tells the page after the transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from model_adapters import AdapterError, StreamResult
from ratings.style import style_counts

from . import streaming
from .errors import INFRASTRUCTURE_ERRORS
from .models import Answer, Battle, Turn
from .selectors import leak_detector_current, vote_notice

logger = logging.getLogger(__name__)



def answer_start(*, turn_id: int, side: str) -> bool:
    """Mark an answer as streaming; False if it already started (a duplicate task delivery)."""
    updated = Answer.objects.filter(turn_id=turn_id, side=side, status=Answer.Status.PENDING).update(
        status=Answer.Status.STREAMING, started_at=timezone.now()
    )
    return updated == 1


def answer_finish(*, turn_id: int, side: str, result: StreamResult) -> None:
    """Persist a finished answer, once, and move the battle on."""
    _answer_close(
        turn_id, side,
        status=Answer.Status.DONE, text=result.text, style=list(style_counts(result.text)),
        leaks=_leaks(turn_id, result.text),
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens, tokens_counted=result.tokens_counted,
        time_to_first_token=result.time_to_first_token, latency=result.latency, finish_reason=result.finish_reason,
    )


def _leaks(turn_id: int, text: str) -> list[str]:
    """The identifying terms in a finished answer of an anonymous battle (:mod:`arena.leaks`); [] otherwise."""
    if not Battle.objects.filter(turns__id=turn_id, mode=Battle.Mode.ANONYMOUS).exists():
        return []
    return leak_detector_current().find(text)


def answer_fail(*, turn_id: int, side: str, error: AdapterError | Exception, partial_text: str = "") -> None:
    """Persist a failed answer (with whatever text was shown) and fail the battle."""
    user_message = getattr(error, "user_message", "The model failed to answer.")
    _answer_close(
        turn_id, side,
        status=Answer.Status.FAILED, text=partial_text, finish_reason="error",
        error=f"{type(error).__name__}: {error}"[:300], error_message=user_message[:300],
    )


def _answer_close(turn_id: int, side: str, **fields: Any) -> None:
    with transaction.atomic():
        turn = Turn.objects.get(pk=turn_id)
        battle = Battle.objects.select_for_update().get(pk=turn.battle_id)
        answer = Answer.objects.get(turn=turn, side=side)
        if answer.status in (Answer.Status.DONE, Answer.Status.FAILED):
            return
        for name, value in fields.items():
            setattr(answer, name, value)
        answer.finished_at = timezone.now()
        answer.save()
        battle_status = _battle_status_after(battle, turn)
        payload = {
            "type": "side_done", "turn": turn.index, "side": side, "status": answer.status,
            "text": answer.text, "error": answer.error_message, "battle_status": battle_status,
            "vote_notice": vote_notice(battle),
        }
        # Robust: the answer is saved whatever happens to the event; a page that missed it reads the battle.
        transaction.on_commit(lambda: streaming.group_event_sync(battle.uuid, payload), robust=True)
        transaction.on_commit(lambda: streaming.buffer_clear(turn_id, side), robust=True)
        transaction.on_commit(lambda: cache.delete(_result_key(turn_id, side)), robust=True)


def result_keep(turn_id: int, side: str, result: StreamResult) -> None:
    """Keep a finished stream's result in the cache until it is saved, so no outage can lose it."""
    try:
        cache.set(_result_key(turn_id, side), asdict(result), settings.ARENA_STREAM_BUFFER_SECONDS)
    except INFRASTRUCTURE_ERRORS as exc:
        logger.warning("could not keep the result of %s/%s in the cache: %s", turn_id, side, exc)


def result_kept(turn_id: int, side: str) -> StreamResult | None:
    kept = cache.get(_result_key(turn_id, side))
    return StreamResult(**kept) if kept else None


def _result_key(turn_id: int, side: str) -> str:
    return f"arena:result:{turn_id}:{side}"


def _battle_status_after(battle: Battle, turn: Turn) -> str:
    statuses = set(turn.answers.values_list("status", flat=True))
    if battle.status == Battle.Status.GENERATING:
        if Answer.Status.FAILED in statuses:
            battle.status = Battle.Status.FAILED
            battle.save(update_fields=["status"])
        elif statuses == {Answer.Status.DONE}:
            battle.status = Battle.Status.READY
            battle.ready_at = timezone.now()
            battle.save(update_fields=["status", "ready_at"])
    return battle.status
