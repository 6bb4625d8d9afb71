"""The sweep that settles answers no worker is working on; the beat schedule runs it (``arena.answers_expire``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from model_adapters import AdapterTimeout, Timeouts

from . import answers, dispatch, liveness, streaming
from .models import Answer, Battle

logger = logging.getLogger(__name__)
STREAM_GRACE_SECONDS = 60  # past the model's own total timeout: a worker that is alive but hung


def answers_expire() -> int:
    """Settle the answers no worker is working on, in every battle still generating (or failed); return how many.

    Run by the beat schedule (``arena.answers_expire``), so request handlers only read:

    - a streaming side whose heartbeat stopped (its worker is gone, see :mod:`arena.liveness`) is saved
      from the result its worker kept if the stream had finished, else failed with the text shown so far;
    - a streaming side past its model's total timeout plus a grace period is failed (a hung worker);
    - a pending side whose task never reached the broker is queued again; one that no worker picked up
      within ARENA_QUEUE_TIMEOUT is failed.

    A task that turns up later finds the answer closed and leaves it alone.
    """
    now = timezone.now()
    open_answers = (
        # A failed battle counts too: its other side may still be open on the same dead worker.
        Answer.objects.filter(turn__battle__status__in=(Battle.Status.GENERATING, Battle.Status.FAILED),
                              status__in=(Answer.Status.PENDING, Answer.Status.STREAMING))
        .select_related("turn__battle__model_a", "turn__battle__model_b")
        .order_by("pk")
    )
    settled = 0
    for answer in open_answers:
        if answer.status == Answer.Status.PENDING:
            settled += _pending_settle(answer, now)
        else:
            settled += _streaming_settle(answer, now)
    return settled


def _pending_settle(answer: Answer, now: datetime) -> int:
    turn = answer.turn
    if now - answer.queued_at > timedelta(seconds=settings.ARENA_QUEUE_TIMEOUT):
        answers.answer_fail(turn_id=turn.id, side=answer.side, error=AdapterTimeout("no worker picked up the generation task"))
        return 1
    if not liveness.dispatched(turn.id, answer.side):
        logger.warning("re-queueing %s/%s: its generation task never reached the broker", turn.id, answer.side)
        dispatch.side_dispatch(turn, answer.side)
    return 0


def _streaming_settle(answer: Answer, now: datetime) -> int:
    turn, battle, side = answer.turn, answer.turn.battle, answer.side
    started = answer.started_at or now
    beating = liveness.heartbeat_alive(turn.id, side) or now - started < timedelta(seconds=settings.ARENA_HEARTBEAT_TTL)
    model = battle.model_a if side == "a" else battle.model_b
    allowed = Timeouts.from_mapping(model.timeouts or {}).total + STREAM_GRACE_SECONDS
    if beating and now - started <= timedelta(seconds=allowed):
        return 0
    kept = answers.result_kept(turn.id, side)
    if kept is not None:
        answers.answer_finish(turn_id=turn.id, side=side, result=kept)
        return 1
    shown = streaming.buffer_read(turn.id, side)[1]
    reason = "the worker stopped streaming the answer" if not beating else "the answer took longer than allowed"
    answers.answer_fail(turn_id=turn.id, side=side, error=AdapterTimeout(reason), partial_text=shown)
    return 1
