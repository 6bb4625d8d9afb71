"""The JSON views' shared plumbing: errors as JSON, request bodies and query parameters.

Used by the arena's battle API and by the leaderboard's read-only API alike, so both answer
every error the same way (see :mod:`arena.errors`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from ratings.booleans import parse_bool

from .errors import ArenaError, InvalidInput

View = Callable[..., HttpResponseBase]


def json_errors(view: View) -> View:
    """Answer an :class:`~arena.errors.ArenaError` with its status and ``{"error": message}``."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except ArenaError as exc:
            return JsonResponse({"error": exc.message}, status=exc.status)

    return wrapped


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object (or its form fields); InvalidInput for anything else."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidInput("The request body must be a JSON object.")
        return data
    return request.POST.dict()


def query_flag(request: HttpRequest, name: str) -> bool:
    """A 1/0 query parameter, false when absent or empty."""
    text = request.GET.get(name, "")
    value = parse_bool(text) if text.strip() else False
    if value is None:
        raise InvalidInput(f"{name} must be 1 or 0, got {text.strip().lower()!r}")
    return value


def query_whole(request: HttpRequest, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    """A whole-number query parameter within bounds, ``default`` when absent."""
    text = request.GET.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidInput(f"{name} must be {bounds}, got {value}")
    return value
