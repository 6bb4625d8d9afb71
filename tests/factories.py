"""Building voted battles directly in the database, for the leaderboard, export and import tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from arena.models import Answer, ArenaModel, Battle, Turn, Vote
from arena.prompts import prompt_fingerprint

_ids = itertools.count(1)


def model(name: str, **fields: Any) -> ArenaModel:
    defaults = {"adapter_kind": "demo", "provider_model": "pelican", "organization": f"{name} Labs",
                "license": "Apache-2.0", "link": f"https://example.org/{name.lower().replace(' ', '-')}",
                "state": ArenaModel.State.ACTIVE}  # models that battle; a new model's own default is paused
    defaults.update(fields)
    found, _ = ArenaModel.objects.get_or_create(name=name, defaults=defaults)
    return found


def battle_voted(
    a: ArenaModel, b: ArenaModel, outcome: str, *, prompt: str = "Hello", answers: tuple[str, str] = ("Hi.", "Hello!"),
    mode: str = Battle.Mode.ANONYMOUS, counts: bool | None = None, time_to_vote: float | None = 10.0,
    ip_hash: str = "ip-1", when: datetime | None = None, turns: int = 1, language: str = "en", has_code: bool = False,
    style: tuple[list[float], list[float]] | None = None, fingerprinted: bool = False,
) -> Battle:
    """A finished battle with one vote; ``counts`` defaults to whether the mode is anonymous.

    Battles carry no prompt fingerprint (as imports without a conversation) unless ``fingerprinted``, so that
    the many "Hello" battles of the tests are not taken for one duplicated prompt.
    """
    when = when or timezone.now() - timedelta(minutes=next(_ids))
    battle = Battle.objects.create(
        mode=mode, model_a=a, model_b=b, status=Battle.Status.VOTED, session_key=f"session-{ip_hash}", ip_hash=ip_hash,
        created_at=when, ready_at=when, turn_count=turns, first_prompt_chars=len(prompt), has_code=has_code,
        language=language, prompt_fingerprint=prompt_fingerprint(prompt) if fingerprinted else "",
    )
    for index in range(1, turns + 1):
        turn = Turn.objects.create(battle=battle, index=index, prompt=prompt if index == 1 else f"Follow-up {index}")
        for side, text, counts_ in (("a", answers[0], style[0] if style else [1, 0, 0, 0]),
                                    ("b", answers[1], style[1] if style else [1, 0, 0, 0])):
            Answer.objects.create(turn=turn, side=side, status=Answer.Status.DONE, text=text, style=counts_)
    counted = (mode == Battle.Mode.ANONYMOUS) if counts is None else counts
    Vote.objects.create(
        battle=battle, outcome=outcome, counts=counted, excluded_reason="" if counted else "side_by_side",
        time_to_vote=time_to_vote, session_key=battle.session_key, ip_hash=ip_hash, created_at=when,
    )
    return battle
