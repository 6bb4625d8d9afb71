"""Read-only views: leaderboard CSV and JSON, battle exports (JSON lines) and the JSON API under /api/v1/.

Errors are JSON ``{"error": message}``: 400 for a bad query parameter, 404 for an unknown
snapshot or view, or a view with no snapshot yet (with a message saying why). Documented in
docs/api.md; the schema is docs/openapi.json.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from arena.models import ArenaModel

from . import exports
from .models import Snapshot

PER_PAGE, MAX_PER_PAGE = 20, 100
VIEW_KEY = re.compile(r"^(overall|style_control|multi_turn|long_prompt|code|language:[A-Za-z0-9_-]{1,16})$")
IMMUTABLE, LATEST = 24 * 3600, 60  # seconds a client may cache a snapshot, or "the latest" of a view
LINES_PER_HOP = 500  # lines read per trip to the database thread when serving over ASGI


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


View = Callable[..., HttpResponse]


def api_view(view: View) -> View:
    """GET/HEAD only; BadRequest and NotFound become JSON errors with status 400 and 404."""

    @require_safe
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadRequest as error:
            return JsonResponse({"error": str(error)}, status=400)
        except NotFound as error:
            return JsonResponse({"error": str(error)}, status=404)

    wrapper.__name__ = wrapper.__qualname__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def snapshot_get(pk: int) -> Snapshot:
    snapshot = Snapshot.objects.filter(pk=pk).first()
    if snapshot is None:
        raise NotFound(f"no snapshot {pk}")
    return snapshot


def snapshot_latest_of(view: str) -> Snapshot:
    """The newest snapshot of a view, or NotFound saying why there is none."""
    if not VIEW_KEY.match(view):
        raise NotFound(f"unknown view {view!r}; views are overall, style_control, multi_turn, long_prompt, code "
                       "and language:<code>")
    snapshot = Snapshot.objects.filter(view=view).first()
    if snapshot is not None:
        return snapshot
    if not Snapshot.objects.exists():
        raise NotFound("no votes have been counted yet, so there is no leaderboard")
    raise NotFound(f"no snapshot of view {view!r}: fewer than {settings.ARENA_CATEGORY_MIN_VOTES} counted votes "
                   "in it so far")


def _flag(request: HttpRequest, name: str) -> bool:
    value = request.GET.get(name, "0").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise BadRequest(f"{name} must be 1 or 0, got {value!r}")


def _whole(request: HttpRequest, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    text = request.GET.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadRequest(f"{name} must be {bounds}, got {value}")
    return value


def _cached(response: HttpResponse, seconds: int) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=seconds)
    return response


def _csv(snapshot: Snapshot, filename: str) -> HttpResponse:
    response = HttpResponse(exports.leaderboard_csv(snapshot), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _json(snapshot: Snapshot) -> HttpResponse:
    return JsonResponse(exports.snapshot_document(snapshot), json_dumps_params={"ensure_ascii": False})


def _file_stem(snapshot: Snapshot) -> str:
    return f"leaderboard-{snapshot.view.replace(':', '-')}-{snapshot.pk}"


def _jsonl(request: HttpRequest, lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    # Django would read a sync iterator into a list before sending it over ASGI (and an async one
    # over WSGI), so each server gets the kind it streams.
    content = _async_blocks(lines) if isinstance(request, ASGIRequest) else (line.encode() for line in lines)
    response = StreamingHttpResponse(content, content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


async def _async_blocks(lines: Iterator[str]) -> AsyncIterator[bytes]:
    read = sync_to_async(_block, thread_sensitive=True)  # the queries stay on one thread and connection
    while block := await read(lines):
        yield block


def _block(lines: Iterator[str]) -> bytes:
    return "".join(islice(lines, LINES_PER_HOP)).encode()


@api_view
def leaderboard_snapshot_csv(request: HttpRequest, pk: int) -> HttpResponse:
    snapshot = snapshot_get(pk)
    return _cached(_csv(snapshot, f"{_file_stem(snapshot)}.csv"), IMMUTABLE)


@api_view
def leaderboard_snapshot_json(request: HttpRequest, pk: int) -> HttpResponse:
    return _cached(_json(snapshot_get(pk)), IMMUTABLE)


@api_view
def leaderboard_latest_csv(request: HttpRequest, view: str) -> HttpResponse:
    snapshot = snapshot_latest_of(view)
    return _cached(_csv(snapshot, f"{_file_stem(snapshot)}.csv"), LATEST)


@api_view
def leaderboard_latest_json(request: HttpRequest, view: str) -> HttpResponse:
    return _cached(_json(snapshot_latest_of(view)), LATEST)


@api_view
def snapshot_battles(request: HttpRequest, pk: int) -> HttpResponse:
    """Exactly the battles a snapshot used, as FastChat clean-battle JSON lines."""
    conversations = _flag(request, "conversations")
    snapshot = snapshot_get(pk)
    lines = exports.snapshot_battle_lines(snapshot, conversations=conversations)
    return _jsonl(request, lines, f"battles-{snapshot.view.replace(':', '-')}-{snapshot.pk}.jsonl")


@api_view
def battles_all(request: HttpRequest) -> HttpResponse:
    """Every voted battle (after vote id ``since``), with whether it counts and why not."""
    since = _whole(request, "since", 0, minimum=0)
    conversations = _flag(request, "conversations")
    return _jsonl(request, exports.all_battle_lines(since=since, conversations=conversations), "battles.jsonl")


@api_view
def api_snapshots(request: HttpRequest) -> HttpResponse:
    """Snapshots, newest first, optionally of one view; paginated."""
    page = _whole(request, "page", 1, minimum=1)
    per_page = _whole(request, "per_page", PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    queryset: QuerySet[Snapshot] = Snapshot.objects.order_by("-computed_at", "-id")
    view = request.GET.get("view")
    if view is not None:
        if not VIEW_KEY.match(view):
            raise BadRequest(f"unknown view {view!r}")
        queryset = queryset.filter(view=view)
    count = queryset.count()
    start = (page - 1) * per_page
    results = [exports.snapshot_summary(s) for s in queryset[start:start + per_page]]
    return JsonResponse({
        "count": count, "page": page, "per_page": per_page,
        "next": _page_link(request, page + 1, per_page) if start + per_page < count else None,
        "previous": _page_link(request, page - 1, per_page) if page > 1 else None,
        "results": results,
    }, json_dumps_params={"ensure_ascii": False})


def _page_link(request: HttpRequest, page: int, per_page: int) -> str:
    query = request.GET.copy()
    query["page"], query["per_page"] = str(page), str(per_page)
    return f"{request.path}?{query.urlencode()}"


@api_view
def api_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    return _cached(_json(snapshot_get(pk)), IMMUTABLE)


@api_view
def api_snapshot_latest(request: HttpRequest) -> HttpResponse:
    return _cached(_json(snapshot_latest_of(request.GET.get("view", "overall"))), LATEST)


@api_view
def api_models(request: HttpRequest) -> HttpResponse:
    """Every model, with public fields only."""
    models = [exports.model_public(m) for m in ArenaModel.objects.order_by("name")]
    return JsonResponse({"count": len(models), "results": models}, json_dumps_params={"ensure_ascii": False})
