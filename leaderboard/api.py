"""Read-only views: leaderboard CSV and JSON, battle exports (JSON lines) and the JSON API under /api/v1/.

Errors are JSON ``{"error": message}``: 400 for a bad query parameter (every number is bounded,
so none can overflow a query), 404 for an unknown snapshot or view, or a view with no snapshot
yet (with a message saying why), 405 for any method but GET and HEAD. Documented in
docs/api.md; the schema is docs/openapi.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control

from arena.api import View, allow_methods, json_errors, query_flag, query_whole
from arena.errors import InvalidInput
from arena.selectors import model_public, models_disclosed

from . import exports
from .models import Snapshot
from .selectors import VIEW_KEY, snapshot_latest_or_404, snapshot_or_404

PER_PAGE, MAX_PER_PAGE = 20, 100
IMMUTABLE, LATEST = 24 * 3600, 60  # seconds a client may cache a snapshot, or "the latest" of a view
LINES_PER_HOP = 500  # lines read per trip to the database thread when serving over ASGI


def api_view(view: View) -> View:
    """GET/HEAD only; errors (:mod:`arena.errors`) become JSON with their status."""
    return allow_methods("GET", "HEAD")(json_errors(view))


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
    snapshot = snapshot_or_404(pk)
    return _cached(_csv(snapshot, f"{_file_stem(snapshot)}.csv"), IMMUTABLE)


@api_view
def leaderboard_snapshot_json(request: HttpRequest, pk: int) -> HttpResponse:
    return _cached(_json(snapshot_or_404(pk)), IMMUTABLE)


@api_view
def leaderboard_latest_csv(request: HttpRequest, view: str) -> HttpResponse:
    snapshot = snapshot_latest_or_404(view)
    return _cached(_csv(snapshot, f"{_file_stem(snapshot)}.csv"), LATEST)


@api_view
def leaderboard_latest_json(request: HttpRequest, view: str) -> HttpResponse:
    return _cached(_json(snapshot_latest_or_404(view)), LATEST)


@api_view
def snapshot_battles(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Exactly the battles a snapshot used, as FastChat clean-battle JSON lines."""
    conversations = query_flag(request, "conversations")
    snapshot = snapshot_or_404(pk)
    base_url = request.build_absolute_uri("/").rstrip("/")
    lines = exports.snapshot_battle_lines(snapshot, conversations=conversations, base_url=base_url)
    return _jsonl(request, lines, f"battles-{snapshot.view.replace(':', '-')}-{snapshot.pk}.jsonl")


@api_view
def battles_all(request: HttpRequest) -> HttpResponseBase:
    """Every voted battle (after vote id ``since``), with whether it counts and why not."""
    since = query_whole(request, "since", 0, minimum=0)
    conversations = query_flag(request, "conversations")
    return _jsonl(request, exports.all_battle_lines(since=since, conversations=conversations), "battles.jsonl")


@api_view
def api_snapshots(request: HttpRequest) -> HttpResponse:
    """Snapshots, newest first, optionally of one view; paginated."""
    page = query_whole(request, "page", 1, minimum=1)
    per_page = query_whole(request, "per_page", PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    queryset: QuerySet[Snapshot] = Snapshot.objects.order_by("-computed_at", "-id")
    view = request.GET.get("view")
    if view is not None:
        if not VIEW_KEY.match(view):
            raise InvalidInput(f"unknown view {view!r}")
        queryset = queryset.filter(view=view)
    count = queryset.count()
    start = (page - 1) * per_page
    # A page past the end is empty without asking: its offset may be beyond what the database can take.
    results = [exports.snapshot_summary(s) for s in queryset[start:start + per_page]] if start < count else []
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
    return _cached(_json(snapshot_or_404(pk)), IMMUTABLE)


@api_view
def api_snapshot_latest(request: HttpRequest) -> HttpResponse:
    return _cached(_json(snapshot_latest_or_404(request.GET.get("view", "overall"))), LATEST)


@api_view
def api_models(request: HttpRequest) -> HttpResponse:
    """Every model the public may know of (active, or with a counted vote), with public fields only."""
    models = [model_public(m) for m in models_disclosed().order_by("name")]
    return JsonResponse({"count": len(models), "results": models}, json_dumps_params={"ensure_ascii": False})
