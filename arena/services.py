"""Every write of the arena's battles, votes and model states goes through one of these functions: validate, then do.

Tasks and events are sent only after the transaction commits. Answers are written by
:mod:`arena.answers`, imported battles by :mod:`arena.imports`.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ratings.outcomes import FROM_ARENA

from . import human_check, images, streaming
from . import leaks as leak_rules
from .dispatch import SIDES, side_dispatch, turn_dispatch
from .errors import Conflict, InvalidInput, TooManyRequests, Unavailable
from .models import COMPLETE_FINISH_REASONS, Answer, ArenaModel, Battle, Turn, TurnImage, Vote, votes_changed
from .prompts import prompt_fingerprint, prompt_has_code, prompt_language
from .sampling import NotEnoughModels, pair_sample
from .selectors import answer_findings, battle_of_session
from .text import text_storable

LEADERBOARD_VOTE_COUNTED = "leaderboard.vote_counted"  # the task a counted vote triggers
INCOMPLETE_ANSWER = "incomplete_answer"
ADMIN_REVIEW = "admin_review"


@dataclass(frozen=True)
class CastRule:
    """A rule applied when a vote is cast: its name is the vote's ``excluded_reason``."""

    name: str
    version: int
    description: str
    thresholds: tuple[tuple[str, Any], ...] = ()


#: The rules a vote is judged by when it is cast, in order (the first broken is the reason); every snapshot
#: stores their names and versions with the thresholds of the rules it applies itself (leaderboard/rules.py).
CAST_RULES = (
    CastRule("side_by_side", 1, "The voter chose the models, so the vote is not blind."),
    CastRule(INCOMPLETE_ANSWER, 1, "An answer did not finish normally: no finish reason, cut off at the token "
             "limit, failed or cancelled.", (("complete_finish_reasons", ", ".join(sorted(COMPLETE_FINISH_REASONS))),)),
    CastRule(leak_rules.RULE, leak_rules.VERSION, "An answer named an arena model, its organisation or an alias.",
             (("min_term_chars", leak_rules.MIN_TERM_CHARS),)),
    CastRule(ADMIN_REVIEW, 1, "An admin left the vote out after review."),
)


def ip_hash(ip: str) -> str:
    """A salted HMAC of the client's IP address, so the raw IP is never stored."""
    return hmac.new(settings.ARENA_IP_SALT.encode(), (ip or "").encode(), hashlib.sha256).hexdigest()


def prompt_rate_limit(ip_hash: str) -> None:
    """Refuse a client that sent more than ARENA_PROMPTS_PER_IP_PER_HOUR prompts (each one costs model calls)."""
    limit = settings.ARENA_PROMPTS_PER_IP_PER_HOUR
    if _hourly_count("prompts", ip_hash) > limit:
        raise TooManyRequests(ngettext("You have sent %(limit)s prompt this hour, the most allowed; please come back later.",
                                       "You have sent %(limit)s prompts this hour, the most allowed; please come back later.",
                                       limit) % {"limit": limit})


def vote_rate_limit(ip_hash: str) -> None:
    """Refuse a client that cast more than ARENA_VOTES_PER_IP_PER_HOUR votes, when it votes, not only later
    when the snapshot's daily cap leaves votes out."""
    limit = settings.ARENA_VOTES_PER_IP_PER_HOUR
    if _hourly_count("votes", ip_hash) > limit:
        raise TooManyRequests(ngettext("You have voted %(limit)s time this hour, the most allowed; please come back later.",
                                       "You have voted %(limit)s times this hour, the most allowed; please come back later.",
                                       limit) % {"limit": limit})


def _hourly_count(kind: str, ip_hash: str) -> int:
    """Count one more ``kind`` for this client in the current hour and return the count so far."""
    hour = int(timezone.now().timestamp() // 3600)
    key = f"arena:{kind}:{ip_hash}:{hour}"
    cache.add(key, 0, 3700)
    try:
        return int(cache.incr(key))
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, 3700)
        return 1


def prompt_clean(prompt: Any) -> str:
    """The prompt as it is stored (NUL bytes dropped, trimmed), or InvalidInput saying what is wrong with it."""
    if not isinstance(prompt, str):
        raise InvalidInput(_("The prompt must be text."))
    prompt = prompt.replace("\x00", "").strip()
    if not text_storable(prompt):
        raise InvalidInput(_("The prompt contains characters that cannot be stored."))
    if not prompt:
        raise InvalidInput(_("Enter a prompt."))
    limit = settings.ARENA_MAX_PROMPT_CHARS
    if len(prompt) > limit:
        raise InvalidInput(_("The prompt is %(length)s characters long; the limit is %(limit)s.")
                           % {"length": f"{len(prompt):,}", "limit": f"{limit:,}"})
    return prompt


def battle_create(
    *,
    prompt: Any,
    session_key: str,
    ip_hash: str,
    mode: str = "anonymous",
    model_a: str | None = None,
    model_b: str | None = None,
    image_files: Sequence[bytes] = (),
    rng: random.Random | None = None,
) -> Battle:
    """Start a battle: pick the pair, write the battle and its first turn, then start both sides.

    ``image_files`` are the uploads attached to the prompt (arena/images.py cleans them); a battle with images is
    drawn among the models that accept images only.
    """
    prompt = prompt_clean(prompt)
    cleaned = images.images_prepare(image_files)
    prompt_rate_limit(ip_hash)
    if mode == Battle.Mode.ANONYMOUS:
        first, second = _anonymous_pair(rng or random.SystemRandom(), vision=bool(cleaned))
    elif mode == Battle.Mode.SIDE_BY_SIDE:
        first, second = _chosen_pair(model_a, model_b)
        if cleaned:
            for model in (first, second):
                if not model.accepts_images:
                    raise InvalidInput(_("%(name)s does not take images; choose a model that does, or remove the "
                                         "images.") % {"name": model.name})
    else:
        raise InvalidInput(_("Unknown mode %(mode)r; use anonymous or side_by_side.") % {"mode": mode})
    with transaction.atomic():
        battle = Battle.objects.create(
            mode=mode, model_a=first, model_b=second, session_key=session_key, ip_hash=ip_hash,
            first_prompt_chars=len(prompt), has_code=prompt_has_code(prompt), language=prompt_language(prompt),
            prompt_fingerprint=prompt_fingerprint(prompt, [image.sha256 for image in cleaned]),
            has_images=bool(cleaned),
        )
        _turn_add(battle, 1, prompt, cleaned)
    return battle


def _anonymous_pair(rng: random.Random, *, vision: bool = False) -> tuple[ArenaModel, ArenaModel]:
    active = ArenaModel.objects.filter(state=ArenaModel.State.ACTIVE)
    if vision:
        active = active.filter(accepts_images=True)
    candidates = [(m, m.sampling_weight) for m in active]
    try:
        return pair_sample(candidates, rng)
    except NotEnoughModels:
        if vision:
            raise Unavailable(_("Fewer than two active models take images; send the prompt without images, or ask "
                                "an administrator to add vision models.")) from None
        raise Unavailable(_("The arena needs at least two active models; ask an administrator to add some.")) from None


def _chosen_pair(name_a: str | None, name_b: str | None) -> tuple[ArenaModel, ArenaModel]:
    if not name_a or not name_b or not isinstance(name_a, str) or not isinstance(name_b, str):
        raise InvalidInput(_("Choose both models for a side-by-side battle."))
    for name in (name_a, name_b):
        if not text_storable(name):  # no model can have this name, and the database would refuse the query
            raise InvalidInput(_("No active model is called %(name)r.") % {"name": name})
    if name_a == name_b:
        raise InvalidInput(_("Choose two different models."))
    found = {m.name: m for m in ArenaModel.objects.filter(name__in=[name_a, name_b], state=ArenaModel.State.ACTIVE)}
    missing = [name for name in (name_a, name_b) if name not in found]
    if missing:
        raise InvalidInput(_("No active model is called %(name)r.") % {"name": missing[0]})
    return found[name_a], found[name_b]


def _turn_add(battle: Battle, index: int, prompt: str, cleaned: Sequence[images.Cleaned] = ()) -> Turn:
    turn = Turn.objects.create(battle=battle, index=index, prompt=prompt)
    TurnImage.objects.bulk_create([
        TurnImage(turn=turn, position=position, image=images.image_store(image), source_type=image.source_type,
                  source_size=image.source_bytes)
        for position, image in enumerate(cleaned, start=1)
    ])
    Answer.objects.bulk_create([Answer(turn=turn, side=side) for side in SIDES])
    transaction.on_commit(lambda: turn_dispatch(turn), robust=True)
    return turn


def turn_create(*, battle_uuid: Any, session_key: str, prompt: Any, image_files: Sequence[bytes] = ()) -> Turn:
    """Continue both conversations with a follow-up prompt, which may have images if both models take them."""
    prompt = prompt_clean(prompt)
    cleaned = images.images_prepare(image_files)
    with transaction.atomic():
        battle = battle_of_session(battle_uuid, session_key, lock=True)
        prompt_rate_limit(battle.ip_hash)
        if battle.status == Battle.Status.VOTED:
            raise Conflict(_("This battle has been voted on; start a new round."))
        if battle.status == Battle.Status.FAILED:
            raise Conflict(_("This battle failed; start a new round."))
        if battle.status != Battle.Status.READY:
            raise Conflict(_("Wait for both answers before sending a follow-up."))
        count = battle.turns.count()
        if count >= settings.ARENA_MAX_TURNS:
            raise Conflict(ngettext("This battle has reached the limit of %(turns)s turn; please vote.",
                                    "This battle has reached the limit of %(turns)s turns; please vote.",
                                    settings.ARENA_MAX_TURNS) % {"turns": settings.ARENA_MAX_TURNS})
        if cleaned and not (battle.model_a.accepts_images and battle.model_b.accepts_images):
            raise InvalidInput(_("A model of this battle does not take images; send the follow-up without them, or "
                                 "start a new round with images."))
        battle.status = Battle.Status.GENERATING
        battle.turn_count = count + 1
        battle.has_images = battle.has_images or bool(cleaned)
        battle.save(update_fields=["status", "turn_count", "has_images"])
        return _turn_add(battle, count + 1, prompt, cleaned)


def answer_retry(*, battle_uuid: Any, session_key: str, side: Any) -> Battle:
    """Ask the model again for a side of the latest turn that failed; the other side's answer stays as it is."""
    with transaction.atomic():
        battle, turn, answer = _side_of_latest_turn(battle_uuid, session_key, side)
        if turn is None or answer is None or answer.status != Answer.Status.FAILED:
            raise Conflict(_("Model %(side)s did not fail, so there is nothing to retry.") % {"side": side.upper()})
        prompt_rate_limit(battle.ip_hash)  # another model call, like a prompt
        Answer.objects.filter(pk=answer.pk).update(**_answer_afresh())
        still_failed = turn.answers.filter(status=Answer.Status.FAILED).exists()
        battle.status = Battle.Status.FAILED if still_failed else Battle.Status.GENERATING
        battle.save(update_fields=["status"])
        _ask_again(turn, side)
    return battle


def _side_of_latest_turn(battle_uuid: Any, session_key: str, side: Any
                         ) -> tuple[Battle, Turn | None, Answer | None]:
    """For a retry or a regeneration, inside its transaction: the battle (locked, not voted), its latest turn and
    that turn's answer on ``side``."""
    if side not in SIDES:
        raise InvalidInput(_("The side must be one of %(sides)s.") % {"sides": ", ".join(SIDES)})
    battle = battle_of_session(battle_uuid, session_key, lock=True)
    if battle.status == Battle.Status.VOTED:
        raise Conflict(_("This battle has been voted on; start a new round."))
    turn = battle.turns.order_by("-index").first()
    return battle, turn, turn.answers.get(side=side) if turn is not None else None


def _ask_again(turn: Turn, side: str) -> None:
    """Queue the side once the transaction commits (the sweep re-queues it otherwise); a Stop pressed on its
    earlier answer must not stop this one."""
    streaming.stop_clear(turn.id, side)
    transaction.on_commit(lambda: side_dispatch(turn, side), robust=True)


def _answer_afresh() -> dict[str, Any]:
    """The fields of an answer about to be asked for again (a retry, a regeneration): pending, with nothing kept."""
    return {"status": Answer.Status.PENDING, "text": "", "input_tokens": None, "output_tokens": None,
            "tokens_counted": False, "time_to_first_token": None, "latency": None, "finish_reason": "", "error": "",
            "error_message": "", "started_at": None, "finished_at": None, "style": [], "leaks": [],
            "queued_at": timezone.now()}


def answer_regenerate(*, battle_uuid: Any, session_key: str, side: Any) -> Battle:
    """Before the vote, ask one side's model for a new answer to the latest prompt.

    The answer shown so far is kept in ``Answer.earlier`` (never shown again, kept for review) and
    ``Answer.regenerations`` counts how often; a vote on the battle records that a side was regenerated
    (``Vote.regenerated``). What that changes in what counts: docs/leaderboard.md, "Retry, regenerate, stop".
    """
    with transaction.atomic():
        battle, turn, answer = _side_of_latest_turn(battle_uuid, session_key, side)
        if battle.status != Battle.Status.READY:
            raise Conflict(_("Wait for both answers before regenerating one."))
        if turn is None or answer is None or answer.status != Answer.Status.DONE:
            raise Conflict(_("Model %(side)s has no finished answer to regenerate.") % {"side": side.upper()})
        prompt_rate_limit(battle.ip_hash)  # another model call, like a prompt
        earlier = [*answer.earlier, {"text": answer.text, "finish_reason": answer.finish_reason,
                                     "finished_at": answer.finished_at.isoformat() if answer.finished_at else None}]
        Answer.objects.filter(pk=answer.pk).update(**_answer_afresh(), earlier=earlier,
                                                   regenerations=answer.regenerations + 1)
        battle.status = Battle.Status.GENERATING
        battle.save(update_fields=["status"])
        _ask_again(turn, side)
    return battle


def battle_stop(*, battle_uuid: Any, session_key: str) -> Battle:
    """Stop every side of the latest turn that is still being generated: each worker closes its provider request
    and saves the text streamed so far as a ``cancelled`` answer (a side still queued is saved empty without a
    model call). The battle moves on as the answers finish; a vote on it is kept but does not count
    (``incomplete_answer``: a stopped answer is cut off)."""
    with transaction.atomic():
        battle = battle_of_session(battle_uuid, session_key, lock=True)
        if battle.status != Battle.Status.GENERATING:
            raise Conflict(_("Nothing is being generated in this battle."))
        turn = battle.turns.order_by("-index").first()
        going = [] if turn is None else list(turn.answers.filter(
            status__in=[Answer.Status.PENDING, Answer.Status.STREAMING]).values_list("side", flat=True))
        if turn is None or not going:
            raise Conflict(_("Nothing is being generated in this battle."))
        for side in going:
            streaming.stop_request(turn.id, side)
    return battle


def battle_vote(*, battle_uuid: Any, session_key: str, ip_hash: str, outcome: Any,
                human_proof: Any = None) -> tuple[Vote, bool]:
    """Record the battle's one vote; a repeat of the same vote returns it, a different one is a conflict.

    With ``ARENA_HUMAN_CHECK`` on, ``human_proof`` must pass it first (:mod:`arena.human_check`), outside
    the transaction (a hosted verifier is a network call). Returns the vote and whether this call created it.
    """
    if not isinstance(outcome, str) or outcome not in FROM_ARENA:  # a list or an object is not hashable
        raise InvalidInput(_("The vote must be one of %(outcomes)s.") % {"outcomes": ", ".join(FROM_ARENA)})
    human_check.vote_verify(human_proof)
    try:
        with transaction.atomic():
            battle = battle_of_session(battle_uuid, session_key, lock=True)
            existing = Vote.objects.filter(battle=battle).first()
            if existing is not None:
                return _vote_repeat(existing, outcome), False
            _vote_allowed(battle)
            vote_rate_limit(ip_hash)  # a repeat of a cast vote (above) never counts against it
            excluded, evidence = battle_exclusion(battle)
            counts = not excluded
            now = timezone.now()
            vote = Vote.objects.create(
                battle=battle,
                outcome=outcome,
                counts=counts,
                excluded_reason=excluded,
                evidence=evidence,
                time_to_vote=(now - battle.ready_at).total_seconds() if battle.ready_at else None,
                regenerated=Answer.objects.filter(turn__battle=battle, regenerations__gt=0).exists(),
                session_key=session_key,
                ip_hash=ip_hash,
            )
            Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.VOTED)
            if counts:
                vote_id = vote.pk
                transaction.on_commit(lambda: _leaderboard_notify(vote_id), robust=True)  # a refresh is also scheduled
            return vote, True
    except IntegrityError:
        # A concurrent request for the same battle won the race: answer as a repeat.
        existing = Vote.objects.filter(battle__uuid=battle_uuid).first()
        if existing is None:
            raise
        return _vote_repeat(existing, outcome), False


def vote_exclusion(mode: str) -> str:
    """Why a vote cast or imported in this battle mode does not count ("" if it does): side-by-side votes
    are not blind, so they are kept but never counted. Imported votes are judged by this rule only:
    their source filtered its battles its own way (see docs/integrity.md)."""
    return "" if mode == Battle.Mode.ANONYMOUS else "side_by_side"


def battle_exclusion(battle: Battle) -> tuple[str, dict[str, Any]]:
    """Why a vote cast on this battle now would not count, and the evidence; ("", {}) if it would count.

    The cast-time rules, the first one broken is the reason (:data:`CAST_RULES`):
    ``side_by_side``; ``incomplete_answer``, an answer of any turn that did not finish normally (no
    finish reason, cut off at the token limit, failed or cancelled); ``identity_leak``, an answer
    naming an arena model, its organisation or an alias (:mod:`arena.leaks`).
    """
    excluded = vote_exclusion(battle.mode)
    if excluded:
        return excluded, {}
    found = answer_findings(battle)
    if found.unfinished or found.incomplete:
        return INCOMPLETE_ANSWER, {"answers": found.unfinished + found.incomplete}
    if found.leaks:
        return leak_rules.RULE, {"answers": found.leaks}
    return "", {}


def _leaderboard_notify(vote_id: int | None = None) -> None:
    # By name: the arena never imports the leaderboard (see docs/architecture.md). With the vote, its voter is checked.
    current_app.signature(LEADERBOARD_VOTE_COUNTED, args=(vote_id,) if vote_id is not None else ()).delay()


def _vote_repeat(existing: Vote, outcome: str) -> Vote:
    if existing.outcome != outcome:
        raise Conflict(_("This battle already has a different vote; votes are final."))
    return existing


def _vote_allowed(battle: Battle) -> None:
    if battle.status == Battle.Status.FAILED:
        raise Conflict(_("A model failed to answer, so this battle cannot be voted on."))
    if battle.status != Battle.Status.READY:
        raise Conflict(_("Wait until both answers are complete before voting."))


def activation_refusal(model: ArenaModel, *, fingerprint: str | None = None) -> str:
    """Why ``model`` may not become active, "" if it may: it needs a passing Test of the adapter settings it will
    battle with (``fingerprint``, by default those it has now), so an untested or changed model never goes public."""
    if model.tested_at is None:
        return "it has never been tested"
    if model.test_fingerprint != (fingerprint or model.adapter_fingerprint()):
        return "its connection or generation settings changed since its last test"
    if not model.test_ok:
        return f"its last test failed ({model.test_summary})"
    return ""


def models_activate(*, model_ids: list[int]) -> tuple[int, list[str]]:
    """Make models active, all or none: returns how many changed and, for each model refused, "name: why".

    With any refusal nothing changes (``activation_refusal``); models already active stay as they are.
    """
    with transaction.atomic():
        models = list(ArenaModel.objects.select_for_update().filter(pk__in=model_ids).exclude(
            state=ArenaModel.State.ACTIVE).order_by("name"))
        refused = [f"{model.name}: {why}" for model in models if (why := activation_refusal(model))]
        if refused:
            return 0, refused
        changed = ArenaModel.objects.filter(pk__in=[model.pk for model in models]).update(state=ArenaModel.State.ACTIVE)
    return changed, []


def votes_reinstate(*, vote_ids: list[int], by: str) -> int:
    """Make votes left out when they were cast count again (an admin's review); returns how many changed.

    The reason they were left out stays on the vote (``excluded_reason``, ``evidence``), with who
    reinstated them and when; the snapshot rules (too fast, daily cap, duplicated prompts) still apply.
    """
    with transaction.atomic():
        which = Vote.objects.filter(pk__in=vote_ids, counts=False).exclude(excluded_reason="side_by_side")
        changing = list(which.select_for_update().values_list("pk", flat=True))
        changed = Vote.objects.filter(pk__in=changing).update(
            counts=True, reinstated_at=timezone.now(), reinstated_by=by[:150])
        votes_changed(changing)
    if changed:
        transaction.on_commit(_leaderboard_notify, robust=True)
    return changed


def votes_exclude(*, vote_ids: list[int], by: str) -> int:
    """Leave counted votes out after an admin's review (reason ``admin_review``); returns how many changed."""
    with transaction.atomic():
        votes = list(Vote.objects.select_for_update().filter(pk__in=vote_ids, counts=True))
        for vote in votes:
            vote.evidence = {**vote.evidence, "review": {"by": by[:150], "at": timezone.now().isoformat(),
                                                         "was": vote.excluded_reason or "counted"}}
            vote.counts, vote.excluded_reason, vote.reinstated_at, vote.reinstated_by = False, ADMIN_REVIEW, None, ""
        Vote.objects.bulk_update(votes, ["counts", "excluded_reason", "evidence", "reinstated_at", "reinstated_by"])
        votes_changed(vote.pk for vote in votes)
    if votes:
        transaction.on_commit(_leaderboard_notify, robust=True)
    return len(votes)


def evidence_summary(evidence: dict[str, Any]) -> str:
    """One line of what a rule found, for the review page."""
    parts = []
    for found in evidence.get("answers", []):
        what = ", ".join(found.get("terms", [])) or found.get("finish_reason", "")
        parts.append(f"turn {found.get('turn')} {str(found.get('side', '')).upper()}: {what}")
    for signal in evidence.get("signals", []):
        # The model first, the figures after it in a fixed order (PostgreSQL's jsonb does not keep the keys' order).
        figures = sorted((k, v) for k, v in signal.items() if k not in ("signal", "scope", "model", "model_id"))
        named = [("model", signal["model"])] if "model" in signal else []
        detail = ", ".join(f"{k} {v}" for k, v in named + figures)
        parts.append(f"{signal.get('signal')} ({signal.get('scope')}): {detail}")
    if "review" in evidence:
        parts.append(f"reviewed by {evidence['review'].get('by', '?')}")
    return "; ".join(parts)[:300]
