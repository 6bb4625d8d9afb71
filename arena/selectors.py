"""Read-side queries: what the page shows for a battle."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from . import streaming
from .models import Answer, ArenaModel, Battle


def model_public(model: ArenaModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "organization": model.organization,
        "license": model.license,
        "link": model.link,
        "demo": model.is_demo,
    }


def battle_state(battle: Battle) -> dict[str, Any]:
    """Everything persisted about a battle, plus the text relayed so far for answers still streaming.

    Model identities are included only once they may be shown: after the vote,
    or from the start in side-by-side mode.
    """
    turns = []
    for turn in battle.turns.prefetch_related("answers").order_by("index"):
        answers = {}
        for answer in turn.answers.all():
            answers[answer.side] = _answer_state(turn.id, answer)
        turns.append({"index": turn.index, "prompt": turn.prompt, "answers": answers})
    vote = getattr(battle, "vote", None) if battle.status == Battle.Status.VOTED else None
    revealed = vote is not None or battle.mode == Battle.Mode.SIDE_BY_SIDE
    return {
        "id": str(battle.uuid),
        "mode": battle.mode,
        "status": battle.status,
        "max_turns": settings.ARENA_MAX_TURNS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
        "turns": turns,
        "vote": vote.outcome if vote else None,
        "models": {"a": model_public(battle.model_a), "b": model_public(battle.model_b)} if revealed else None,
    }


def _answer_state(turn_id: int, answer: Answer) -> dict[str, Any]:
    if answer.status in (Answer.Status.DONE, Answer.Status.FAILED):
        return {"status": answer.status, "text": answer.text, "seq": None, "error": answer.error_message}
    seq, text = streaming.buffer_read(turn_id, answer.side)
    return {"status": answer.status, "text": text, "seq": seq, "error": ""}


def active_models() -> list[dict[str, Any]]:
    return [model_public(m) for m in ArenaModel.objects.filter(state=ArenaModel.State.ACTIVE)]
