"""Read-side queries shared by the views, the websocket consumer, the admin and the leaderboard.

Two public views of a model, each under its own name: :func:`model_card` is what a voter sees
(the reveal after the vote, the side-by-side picker); :func:`model_public` is the model's public
record in the read-only API and the exports. Neither ever includes adapter settings, key names
or base URLs.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from . import streaming
from .errors import NotFound
from .leaks import LeakDetector, leak_detector, terms_of
from .models import COMPLETE_FINISH_REASONS, Answer, ArenaModel, Battle, StoredImage, TurnImage, Vote


def battle_of_session(battle_uuid: Any, session_key: str | None, *, lock: bool = False) -> Battle:
    """The battle if it belongs to this browser session; anyone else gets NotFound, as if it did not exist.

    ``lock`` takes a row lock on the battle (inside a transaction) for a write that follows.
    """
    queryset = Battle.objects.select_related("model_a", "model_b")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    battle = queryset.filter(uuid=battle_uuid).first()
    if battle is None or not session_key or not hmac.compare_digest(battle.session_key, session_key):
        raise NotFound(_("No such battle."))
    return battle


def session_owns_battle(battle_uuid: Any, session_key: str | None) -> bool:
    """Whether the battle exists and belongs to this session (the websocket's check)."""
    try:
        battle_of_session(battle_uuid, session_key)
    except NotFound:
        return False
    return True


def model_card(model: ArenaModel) -> dict[str, Any]:
    """What a voter is shown about a model: after the vote, or when picking models side by side."""
    return {
        "name": model.name,
        "organization": model.organization,
        "license": model.license,
        "link": model.link,
        "demo": model.is_demo,
        "accepts_images": model.accepts_images,
    }


def model_public(model: ArenaModel) -> dict[str, Any]:
    """A model's public record in the read-only API and the exports."""
    return {"name": model.name, "organization": model.organization, "license": model.license,
            "link": model.link, "state": model.state}


def models_disclosed() -> QuerySet[ArenaModel]:
    """The models the public may know of: those that battle now (active), and any other with a counted vote.

    A paused or deprecated model without a counted vote stays unnamed everywhere public: a new model starts paused,
    so an unreleased one is never listed; a model that earned votes keeps its place where its votes appear.
    """
    counted = Vote.objects.filter(counts=True)
    return ArenaModel.objects.filter(
        Q(state=ArenaModel.State.ACTIVE)
        | Exists(counted.filter(battle__model_a=OuterRef("pk")))
        | Exists(counted.filter(battle__model_b=OuterRef("pk")))
    )


def models_public() -> dict[str, dict[str, Any]]:
    """The public record of every disclosed model (``models_disclosed``), by name."""
    return {m.name: model_public(m) for m in models_disclosed()}


def image_card(image: StoredImage) -> dict[str, Any]:
    """An attached image as the battle page shows it: served at ``url`` to the battle's own session."""
    return {"sha256": image.sha256, "url": reverse("arena-image", args=[image.sha256]), "width": image.width,
            "height": image.height, "media_type": image.media_type}


def image_viewable(sha256: str, session_key: str, *, staff: bool = False) -> StoredImage | None:
    """The stored image if this session attached it to one of its battles, the reader is staff or the image is
    public; else None."""
    image = StoredImage.objects.filter(sha256=sha256).first()
    if image is None or staff:
        return image
    if session_key and TurnImage.objects.filter(image=image, turn__battle__session_key=session_key).exists():
        return image
    return image if image.public_since is not None else None


def models_active() -> list[dict[str, Any]]:
    """The cards of the models that battle now."""
    return [model_card(m) for m in ArenaModel.objects.filter(state=ArenaModel.State.ACTIVE)]


def leak_detector_current() -> LeakDetector:
    """The identity-leak detector for the arena's models as they are now (every state: a paused or
    deprecated model's name reveals as much)."""
    rows = ArenaModel.objects.values_list("name", "organization", "aliases")
    return leak_detector(term for row in rows for term in terms_of(*row))


def battle_state(battle: Battle) -> dict[str, Any]:
    """Everything persisted about a battle, plus the text relayed so far for answers still streaming.

    Model identities are included only once they may be shown: after the vote,
    or from the start in side-by-side mode.
    """
    turns = []
    for turn in battle.turns.prefetch_related("answers", "images__image").order_by("index"):
        answers = {}
        for answer in turn.answers.all():
            answers[answer.side] = _answer_state(turn.id, answer)
        turns.append({"index": turn.index, "prompt": turn.prompt, "answers": answers,
                      "images": [image_card(use.image) for use in turn.images.all()]})
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
        "vote_notice": vote_notice(battle),
        "vote_counts_in": vote_counts_in(battle),
        "too_fast": vote_too_fast(vote) if vote else False,
        "models": {"a": model_card(battle.model_a), "b": model_card(battle.model_b)} if revealed else None,
    }


def vote_counts_in(battle: Battle) -> float:
    """Seconds until a vote on this ready battle stops being too fast to count (the leaderboard's ``too_fast``
    rule, ``ARENA_MIN_VOTE_SECONDS`` after the last answer finished); 0 once it counts or if nothing is ready."""
    if battle.status != Battle.Status.READY or battle.ready_at is None:
        return 0.0
    waited = (timezone.now() - battle.ready_at).total_seconds()
    return round(max(0.0, settings.ARENA_MIN_VOTE_SECONDS - waited), 3)


def vote_too_fast(vote: Vote) -> bool:
    """Whether the leaderboard leaves this vote out as cast too soon after the answers (``too_fast``)."""
    return vote.time_to_vote is not None and vote.time_to_vote < settings.ARENA_MIN_VOTE_SECONDS


@dataclass(frozen=True)
class AnswerFindings:
    """What the cast-time rules look at in a battle's answers, every turn's (the evidence lists are stored on votes)."""

    unfinished: list[dict[str, Any]]  # pending, streaming or failed answers
    incomplete: list[dict[str, Any]]  # finished, but not normally (cut off, no finish reason, ...)
    leaks: list[dict[str, Any]]  # finished answers naming a model
    streaming: list[tuple[int, str]]  # (turn id, side) of the answers streaming now


def answer_findings(battle: Battle) -> AnswerFindings:
    found = AnswerFindings([], [], [], [])
    rows = Answer.objects.filter(turn__battle=battle).values_list("turn_id", "turn__index", "side", "status",
                                                                  "finish_reason", "leaks")
    for turn_id, index, side, status, reason, leaks in rows:
        if status != Answer.Status.DONE:
            found.unfinished.append({"turn": index, "side": side, "finish_reason": reason or status})
            if status == Answer.Status.STREAMING:
                found.streaming.append((turn_id, side))
        elif reason not in COMPLETE_FINISH_REASONS:
            found.incomplete.append({"turn": index, "side": side, "finish_reason": reason or status})
        if leaks:
            found.leaks.append({"turn": index, "side": side, "terms": leaks})
    return found


def vote_notice(battle: Battle) -> str:
    """Why a vote on this anonymous battle would be kept but not counted, told to the voter before voting:
    ``incomplete_answer`` (an answer finished abnormally), ``identity_leak`` (an answer named a model, also
    found in the text streamed so far), or "" (none that the voter is told of; see ``services.CAST_RULES``)."""
    if battle.mode != Battle.Mode.ANONYMOUS:
        return ""
    found = answer_findings(battle)
    if found.incomplete:
        return "incomplete_answer"
    if found.leaks:
        return "identity_leak"
    streaming_texts = [text for text in (streaming.buffer_read(turn_id, side)[1] for turn_id, side in found.streaming)
                       if text]
    if streaming_texts:
        detector = leak_detector_current()
        if any(detector.find(text) for text in streaming_texts):
            return "identity_leak"
    return ""


def _answer_state(turn_id: int, answer: Answer) -> dict[str, Any]:
    if answer.status in (Answer.Status.DONE, Answer.Status.FAILED):
        return {"status": answer.status, "text": answer.text, "seq": None, "error": answer.error_message}
    seq, text = streaming.buffer_read(turn_id, answer.side)
    return {"status": answer.status, "text": text, "seq": seq, "error": ""}
