"""Celery tasks: each fetches by id and calls a service; the work itself lives in those modules."""

from __future__ import annotations

import logging

from celery import shared_task

from . import generation, probes, reaper
from .dispatch import GENERATE

logger = logging.getLogger(__name__)


@shared_task(name=GENERATE, ignore_result=True)
def battle_generate(turn_id: int, side: str) -> None:
    """Stream one side of one turn to the battle's group, then persist the answer once."""
    generation.answer_generate(turn_id=turn_id, side=side)


@shared_task(name="arena.model_probe", ignore_result=True)
def model_probe(model_id: int, token: str) -> None:
    """The admin's "Test" action, run where the model's keys and hardware are."""
    probes.probe_record(model_id, token)


@shared_task(name="arena.answers_expire", ignore_result=True)
def answers_expire() -> None:
    """The beat schedule's sweep: settle answers whose worker is gone, so no voter waits forever."""
    settled = reaper.answers_expire()
    if settled:
        logger.warning("settled %d answer(s) that no worker was working on", settled)
