"""The project's 500 handler: a service that is down is a 503 with Retry-After, never a traceback.

Django calls ``handler500`` for any exception a view or a middleware did not handle (with DEBUG off),
inside the exception's context, so this sees what went wrong. JSON clients (the API, the exports, the
leaderboard's files) get ``{"error": message}``; people get a short plain page.
"""

from __future__ import annotations

import logging
import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from arena.errors import INFRASTRUCTURE_ERRORS

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 10
JSON_PREFIXES = ("/api/", "/exports/")
JSON_SUFFIXES = (".json", ".jsonl", ".csv")
UNAVAILABLE = gettext_lazy("The arena is briefly unavailable (a service it needs is not answering); please try again "
                           "shortly.")
FAILED = gettext_lazy("Something went wrong on our side; it has been logged.")
PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{message}</p></body></html>
"""


def wants_json(request: HttpRequest) -> bool:
    return path_wants_json(request.path)


def path_wants_json(path: str) -> bool:
    return path.startswith(JSON_PREFIXES) or path.endswith(JSON_SUFFIXES)


def server_error(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After for an infrastructure failure; otherwise a plain 500."""
    error = sys.exc_info()[1]
    unavailable = isinstance(error, INFRASTRUCTURE_ERRORS)
    if unavailable:
        logger.warning("503 for %s %s: %s: %s", request.method, request.path, type(error).__name__, error)
    status, title, message = ((503, _("Briefly unavailable"), str(UNAVAILABLE)) if unavailable
                              else (500, _("Server error"), str(FAILED)))
    response: HttpResponse
    if wants_json(request):
        response = JsonResponse({"error": message}, status=status)
    else:
        response = HttpResponse(PAGE.format(lang=get_language() or "en", title=title, message=message), status=status,
                                content_type="text/html; charset=utf-8")
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
