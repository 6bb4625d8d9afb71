from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .api import json_body, json_errors
from .models import Battle


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key or ""


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, behind ARENA_PROXY_HOPS trusted proxies, the address the
    outermost of them saw (X-Forwarded-For entries further left are the client's own claims)."""
    hops = settings.ARENA_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def _client_ip_hash(request: HttpRequest) -> str:
    return services.ip_hash(client_ip(request))


@require_GET
@ensure_csrf_cookie
def arena_page(request: HttpRequest) -> HttpResponse:
    _session_key(request)
    context = {
        "models": selectors.models_active(),
        "max_turns": settings.ARENA_MAX_TURNS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
    }
    return render(request, "arena/index.html", context)


@require_POST
@json_errors
def battle_create(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    battle = services.battle_create(
        prompt=data.get("prompt"),
        mode=data.get("mode") or Battle.Mode.ANONYMOUS,
        model_a=data.get("model_a"),
        model_b=data.get("model_b"),
        session_key=_session_key(request),
        ip_hash=_client_ip_hash(request),
    )
    return JsonResponse(selectors.battle_state(battle), status=201)


@require_GET
@json_errors
def battle_detail(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    battle = selectors.battle_of_session(battle_uuid, request.session.session_key)
    return JsonResponse(selectors.battle_state(battle))


@require_POST
@json_errors
def turn_create(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    data = json_body(request)
    turn = services.turn_create(
        battle_uuid=battle_uuid, session_key=request.session.session_key or "", prompt=data.get("prompt")
    )
    return JsonResponse(selectors.battle_state(turn.battle), status=201)


@require_POST
@json_errors
def battle_vote(request: HttpRequest, battle_uuid: Any) -> HttpResponse:
    data = json_body(request)
    vote, created = services.battle_vote(
        battle_uuid=battle_uuid,
        session_key=request.session.session_key or "",
        ip_hash=_client_ip_hash(request),
        outcome=data.get("outcome"),
    )
    battle = vote.battle
    body = {
        "outcome": vote.outcome,
        "counts": vote.counts,
        "models": {"a": selectors.model_card(battle.model_a), "b": selectors.model_card(battle.model_b)},
    }
    return JsonResponse(body, status=201 if created else 200)


@require_http_methods(["GET"])
def models_list(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"models": selectors.models_active()})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "The request was refused: reload the page and try again (CSRF check failed)."},
                            status=403)
    from django.views.csrf import csrf_failure as default_failure

    return default_failure(request, reason=reason)
