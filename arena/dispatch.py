"""Sending generation tasks to the workers, by name, on the queue each adapter kind runs on."""

from __future__ import annotations

import logging

from celery import current_app

from model_adapters.registry import spec_for

from . import liveness
from .errors import INFRASTRUCTURE_ERRORS
from .models import Turn

logger = logging.getLogger(__name__)
GENERATE = "arena.battle_generate"  # arena.tasks.battle_generate(turn_id, side)
SIDES = ("a", "b")


def side_dispatch(turn: Turn, side: str) -> None:
    """Queue the generation of one side and mark it queued (the sweep re-queues a side without the mark)."""
    model = turn.battle.model_a if side == "a" else turn.battle.model_b
    current_app.signature(GENERATE, args=(turn.id, side)).apply_async(queue=spec_for(model.adapter_kind).queue)
    liveness.dispatch_mark(turn.id, side)


def turn_dispatch(turn: Turn) -> None:
    """Queue both sides of a turn that was just saved; a side the broker refused is left to the sweep."""
    for side in SIDES:
        try:
            side_dispatch(turn, side)
        except INFRASTRUCTURE_ERRORS as exc:
            logger.warning("could not queue %s/%s (%s); the sweep will queue it again", turn.id, side, exc)
