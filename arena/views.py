from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from . import human_check, images, selectors, services
from .api import allow_methods, json_body, json_errors
from .errors import ArenaError, NotFound
from .models import Battle
from .sessions import session_key_verified

SHA256 = re.compile(r"[0-9a-f]{64}")


def _session_key(request: HttpRequest) -> str:
    """This browser's session key, or "" when its cookie names no session the store holds."""
    return session_key_verified(request.session) or ""


def _session_key_or_new(request: HttpRequest) -> str:
    """This browser's session key, starting a session first if it has none (or a forged one)."""
    if not _session_key(request):
        request.session.save()
    return request.session.session_key or ""


@contextmanager
def _session_for_write(request: HttpRequest) -> Iterator[str]:
    """The session key to write under, in a transaction; a session started for a request that is refused
    is undone with it, so a rejected request writes nothing at all."""
    had_session = bool(_session_key(request))
    try:
        with transaction.atomic():
            yield _session_key_or_new(request)
    except ArenaError:
        if not had_session:
            request.session.flush()  # its row was rolled back; forget its key too, and drop the cookie
        raise


def client_ip(request: HttpRequest) -> str:
    """The client's address, as the outermost of our proxies saw it.

    REMOTE_ADDR is the TCP peer. Only when that peer is one of our proxies (ARENA_TRUSTED_PROXIES;
    by default loopback and private addresses, where load balancers live) and ARENA_PROXY_HOPS proxies
    stand in front, is the address the outermost one appended to X-Forwarded-For taken instead; entries
    further left are the client's own claims, and a client connecting directly cannot claim anything.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.ARENA_PROXY_HOPS
    if not hops or not proxy_trusted(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-hops] if len(forwarded) >= hops else remote


def proxy_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.ARENA_TRUSTED_PROXIES)


def _client_ip_hash(request: HttpRequest) -> str:
    return services.ip_hash(client_ip(request))


@allow_methods("GET")
@ensure_csrf_cookie
def arena_page(request: HttpRequest) -> HttpResponse:
    _session_key_or_new(request)
    context = {
        "models": selectors.models_active(),
        "max_turns": settings.ARENA_MAX_TURNS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
        "min_vote_seconds": settings.ARENA_MIN_VOTE_SECONDS,
        "max_images": settings.ARENA_MAX_IMAGES,
        "image_max_bytes": settings.ARENA_IMAGE_MAX_BYTES,
        "image_types": list(images.ACCEPTED.values()),
        "human_check": human_check.page_config(),
    }
    return render(request, "arena/index.html", context)


@allow_methods("POST")
@json_errors
def battle_create(request: HttpRequest) -> HttpResponse:
    """Start a battle: JSON ``{"prompt", "mode", "model_a", "model_b"}``, or the same fields as multipart/form-data
    with the prompt's images as files named ``images``."""
    data = json_body(request)
    image_files = images.uploads_read(request.FILES.getlist("images"))
    with _session_for_write(request) as session_key:
        battle = services.battle_create(
            prompt=data.get("prompt"),
            mode=data.get("mode") or Battle.Mode.ANONYMOUS,
            model_a=data.get("model_a"),
            model_b=data.get("model_b"),
            image_files=image_files,
            session_key=session_key,
            ip_hash=_client_ip_hash(request),
        )
    return JsonResponse(selectors.battle_state(battle), status=201)


@allow_methods("GET")
@json_errors
def battle_detail(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    battle = selectors.battle_of_session(battle_uuid, _session_key(request))
    return JsonResponse(selectors.battle_state(battle))


@allow_methods("POST")
@json_errors
def turn_create(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    data = json_body(request)
    image_files = images.uploads_read(request.FILES.getlist("images"))
    turn = services.turn_create(battle_uuid=battle_uuid, session_key=_session_key(request), prompt=data.get("prompt"),
                                image_files=image_files)
    return JsonResponse(selectors.battle_state(turn.battle), status=201)


@allow_methods("POST")
@json_errors
def answer_retry(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    """Ask again for the latest turn's failed side ``{"side": "a"}``; answers with the battle as it is now."""
    data = json_body(request)
    battle = services.answer_retry(battle_uuid=battle_uuid, session_key=_session_key(request), side=data.get("side"))
    return JsonResponse(selectors.battle_state(battle))


@allow_methods("POST")
@json_errors
def answer_regenerate(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    """Before the vote, ask again for the latest turn's finished side ``{"side": "a"}``; answers with the battle."""
    data = json_body(request)
    battle = services.answer_regenerate(battle_uuid=battle_uuid, session_key=_session_key(request),
                                        side=data.get("side"))
    return JsonResponse(selectors.battle_state(battle))


@allow_methods("POST")
@json_errors
def battle_stop(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    """Stop both sides of the latest turn (each keeps what it streamed); answers with the battle as it is now."""
    battle = services.battle_stop(battle_uuid=battle_uuid, session_key=_session_key(request))
    return JsonResponse(selectors.battle_state(battle))


@allow_methods("POST")
@json_errors
def battle_vote(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    data = json_body(request)
    vote, created = services.battle_vote(
        battle_uuid=battle_uuid,
        session_key=_session_key(request),
        ip_hash=_client_ip_hash(request),
        outcome=data.get("outcome"),
        human_proof=data.get("human_check"),
    )
    battle = vote.battle
    body = {
        "outcome": vote.outcome,
        "counts": vote.counts,
        "too_fast": selectors.vote_too_fast(vote),
        "models": {"a": selectors.model_card(battle.model_a), "b": selectors.model_card(battle.model_b)},
    }
    return JsonResponse(body, status=201 if created else 200)


@allow_methods("GET")
@json_errors
def human_check_challenge(request: HttpRequest) -> HttpResponse:
    """A proof-of-work challenge for the next vote (404 unless ARENA_HUMAN_CHECK is pow)."""
    if human_check.kind() != "pow":
        raise NotFound(_("No proof-of-work check is configured."))
    return JsonResponse(human_check.pow_challenge(), headers={"Cache-Control": "no-store"})


@allow_methods("GET")
def image_file(request: HttpRequest, sha256: str) -> HttpResponse:
    """A stored image, for the session that attached it, for staff, or for anyone once an admin made it public."""
    session_key = _session_key(request)
    image = selectors.image_viewable(sha256, session_key, staff=request.user.is_staff) if SHA256.fullmatch(sha256) else None
    if image is None:
        raise Http404("No such image.")
    public = image.public_since is not None
    return HttpResponse(images.image_bytes(image), content_type=image.media_type, headers={
        # Content-addressed: the bytes behind a name never change.
        "Cache-Control": ("public" if public else "private") + ", max-age=31536000, immutable",
        "Content-Disposition": f'inline; filename="{image.sha256[:16]}.{images.EXTENSIONS[image.media_type]}"',
    })


@allow_methods("GET")
def models_list(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"models": selectors.models_active()})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": _("The request was refused: reload the page and try again (CSRF check failed).")},
                            status=403)
    from django.views.csrf import csrf_failure as default_failure

    return default_failure(request, reason=reason)
