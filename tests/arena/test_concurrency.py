from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import Client

from arena import services
from arena.models import ArenaModel, Battle, Vote
from tests.conftest import service_missing

from .conftest import run_turn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        service_missing("the concurrent-vote tests run on PostgreSQL (set DATABASE_URL)")


def ready_battle_for_session() -> tuple[Battle, str]:
    for name in ("Alpha", "Beta"):
        ArenaModel.objects.create(name=name, state="active", adapter_kind="demo", provider_model="pelican", options={"delay": 0})
    session = SessionStore()
    session.create()
    battle = services.battle_create(prompt="Hi", session_key=session.session_key, ip_hash="h")
    run_turn(battle.turns.get())
    return battle, session.session_key


def vote_concurrently(battle: Battle, session_key: str, outcomes: list[str]) -> list[int]:
    barrier = threading.Barrier(len(outcomes))
    statuses: list[int] = [0] * len(outcomes)

    def post(index: int, outcome: str) -> None:
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = session_key
        barrier.wait()
        try:
            response = client.post(
                f"/api/battles/{battle.uuid}/vote", data=json.dumps({"outcome": outcome}), content_type="application/json"
            )
            statuses[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i, o)) for i, o in enumerate(outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


def test_many_simultaneous_identical_votes_leave_exactly_one(postgres) -> None:
    battle, session_key = ready_battle_for_session()
    statuses = vote_concurrently(battle, session_key, ["a"] * 12)
    assert Counter(statuses) == {201: 1, 200: 11}
    assert Vote.objects.filter(battle=battle).count() == 1


def test_simultaneous_different_votes_keep_the_first_and_refuse_the_others(postgres) -> None:
    battle, session_key = ready_battle_for_session()
    outcomes = ["a", "b", "tie", "both_bad"] * 3
    statuses = vote_concurrently(battle, session_key, outcomes)
    vote = Vote.objects.get(battle=battle)
    assert statuses.count(201) == 1
    winner = outcomes[statuses.index(201)]
    assert vote.outcome == winner
    for outcome, status in zip(outcomes, statuses, strict=True):
        if status != 201:
            assert status == (200 if outcome == winner else 409)
