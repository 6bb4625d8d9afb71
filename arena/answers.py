"""Every write to an answer: a worker starting, finishing or failing a side, and the reaper failing stuck ones.

Each closes the answer once (a late or duplicate task finds it closed and changes nothing),
moves the battle on, and tells the page after the transaction commits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from model_adapters import AdapterError, AdapterTimeout, StreamResult, Timeouts
from ratings.style import style_counts

from . import streaming
from .models import Answer, Battle, Turn

STREAM_GRACE_SECONDS = 60


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
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens, tokens_counted=result.tokens_counted,
        time_to_first_token=result.time_to_first_token, latency=result.latency, finish_reason=result.finish_reason,
    )


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
        }
        transaction.on_commit(lambda: streaming.group_event_sync(battle.uuid, payload))
        transaction.on_commit(lambda: streaming.buffer_clear(turn_id, side))


def answers_expire() -> int:
    """Fail the answers whose worker is gone, in every battle still generating; return how many.

    Run by the beat schedule (``arena.answers_expire``). A pending answer no worker picked up
    within ARENA_QUEUE_TIMEOUT, or a streaming one past its model's total timeout plus a grace
    period, can no longer finish: without this the voter would wait forever. A task that does
    turn up later finds the answer closed and leaves it alone.
    """
    now = timezone.now()
    open_answers = (
        Answer.objects.filter(turn__battle__status=Battle.Status.GENERATING,
                              status__in=(Answer.Status.PENDING, Answer.Status.STREAMING))
        .select_related("turn__battle__model_a", "turn__battle__model_b")
        .order_by("pk")
    )
    expired = 0
    for answer in open_answers:
        turn, battle = answer.turn, answer.turn.battle
        if answer.status == Answer.Status.PENDING:
            late = now - turn.created_at > timedelta(seconds=settings.ARENA_QUEUE_TIMEOUT)
            error = AdapterTimeout("no worker picked up the generation task")
        else:
            model = battle.model_a if answer.side == "a" else battle.model_b
            allowed = Timeouts.from_mapping(model.timeouts or {}).total + STREAM_GRACE_SECONDS
            late = answer.started_at is not None and now - answer.started_at > timedelta(seconds=allowed)
            error = AdapterTimeout("the worker stopped streaming the answer")
        if late:
            shown = streaming.buffer_read(turn.id, answer.side)[1]
            answer_fail(turn_id=turn.id, side=answer.side, error=error, partial_text=shown)
            expired += 1
    return expired


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
