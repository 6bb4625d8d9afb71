"""The JSON views' shared plumbing: errors as JSON, allowed methods, request bodies and query parameters.

Used by the arena's battle API and by the leaderboard's read-only API alike, so both answer
every error the same way (see :mod:`arena.errors`). What goes wrong before a view runs (an
unknown path, a wrong method, a body too large or unparsable) is answered in the same shape by
``config.middleware`` and ``config.client_errors``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from ratings.booleans import parse_bool

from .errors import ArenaError, InvalidInput

View = Callable[..., HttpResponseBase]

ALLOWED_METHODS = "allowed_methods"  # the attribute allow_methods leaves on a view
DATABASE_INT_MAX = 2**63 - 1  # the largest integer both SQLite and PostgreSQL (bigint) hold
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+", re.ASCII)  # ASCII: int() would also take other scripts' digits
SHOWN_CHARS = 40  # how much of a bad value an error message repeats


def json_errors(view: View) -> View:
    """Answer an :class:`~arena.errors.ArenaError` with its status and ``{"error": message}``."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except ArenaError as exc:
            return JsonResponse({"error": exc.message}, status=exc.status)

    return wrapped


def allow_methods(*methods: str) -> Callable[[View], View]:
    """Django's ``require_http_methods``, and the list left on the view as ``allowed_methods``.

    Django's decorator keeps its list to itself, and the CSRF middleware runs before it, so a PUT
    to a POST-only view would be refused as a CSRF failure; ``config.middleware`` reads the list
    and answers 405 first.
    """

    def decorator(view: View) -> View:
        checked: View = require_http_methods(list(methods))(view)
        setattr(checked, ALLOWED_METHODS, tuple(methods))
        return checked

    return decorator


def view_methods(view: Callable[..., Any]) -> tuple[str, ...] | None:
    """The methods a view declared with :func:`allow_methods`, None if it declared none."""
    methods: tuple[str, ...] | None = getattr(view, ALLOWED_METHODS, None)
    return methods


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object (or its form fields); InvalidInput for anything else.

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE raises Django's RequestDataTooBig, which
    ``config.client_errors`` answers with 413.
    """
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except RecursionError:  # the parser recurses once per level of nesting
            raise InvalidInput(_("The request body is nested too deeply.")) from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(_("The request body is not valid JSON.")) from None
        if not isinstance(data, dict):
            raise InvalidInput(_("The request body must be a JSON object."))
        return data
    return request.POST.dict()


def query_flag(request: HttpRequest, name: str) -> bool:
    """A 1/0 query parameter, false when absent or empty."""
    text = request.GET.get(name, "")
    value = parse_bool(text) if text.strip() else False
    if value is None:
        raise InvalidInput(f"{name} must be 1 or 0, got {_shown(text.strip().lower())}")
    return value


def query_whole(request: HttpRequest, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    """A whole-number query parameter within bounds, ``default`` when absent.

    Without a ``maximum`` the bound is the largest integer the database holds, so no value
    from a query string can overflow a query.
    """
    text = request.GET.get(name, "")
    if text == "":
        return default
    if not WHOLE_NUMBER.fullmatch(text):
        raise InvalidInput(f"{name} must be a whole number, got {_shown(text)}")
    ceiling = DATABASE_INT_MAX if maximum is None else maximum
    negative, digits = text.startswith("-"), text.lstrip("+-").lstrip("0") or "0"
    # More significant digits than the ceiling has is out of range; int() only ever sees a short number
    # (it refuses strings of over 4300 digits, leading zeros included).
    value = (-int(digits) if negative else int(digits)) if len(digits) <= len(str(ceiling)) else None
    if value is not None and minimum <= value <= ceiling:
        return value
    too_small = negative if value is None else value < minimum
    if maximum is not None:
        bounds = f"between {minimum} and {maximum}"
    else:
        bounds = f"at least {minimum}" if too_small else f"at most {ceiling}"
    raise InvalidInput(f"{name} must be {bounds}, got {_shown(text, quoted=False)}")


def _shown(text: str, *, quoted: bool = True) -> str:
    """``text`` as an error message repeats it: cut short, and quoted unless it is a number."""
    cut = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
    return repr(cut) if quoted else cut
