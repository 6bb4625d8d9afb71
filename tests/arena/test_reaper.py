"""Stuck answers are failed by the beat schedule's sweep, not by whoever happens to read the battle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from arena.models import Answer, Battle
from arena.tasks import answers_expire

from .conftest import post_json

pytestmark = pytest.mark.django_db


def overdue_battle(client: Client) -> Battle:
    """A battle whose generation tasks no worker picked up, past the queue timeout."""
    response = post_json(client, "/api/battles", {"prompt": "Anyone there?"})
    assert response.status_code == 201
    battle = Battle.objects.get(uuid=response.json()["id"])
    battle.turns.update(created_at=timezone.now() - timedelta(seconds=settings.ARENA_QUEUE_TIMEOUT + 1))
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
