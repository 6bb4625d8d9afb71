"""The project's 400 and 404 handlers (``handler400``, ``handler404``): JSON for JSON clients, Django's pages for people.

Django answers some requests before any view runs: a path nothing routes (404), or a request it
refuses while reading it (400): a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a multipart body without
a boundary, too many fields, a Host it does not serve. The API, the exports and the leaderboard's
files (``config.errors.wants_json``) answer those as they answer everything else, ``{"error": message}``;
a body that is too large is 413 there. The 500 handler is :func:`config.errors.server_error`.

Pages get the same plain pages Django's default handlers show (the project has no 400.html or
404.html), built here: Django's handlers run the CSRF check, which reads a POST body again, and a body
that could not be read the first time (a form in another charset) raises again, turning a 400 into a 500.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.defaults import ERROR_PAGE_TEMPLATE

from .errors import path_wants_json, wants_json

NO_ENDPOINT = "No such API endpoint."
MALFORMED = "The request is malformed."


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400, or 413 for a body over the size limit; JSON for the API, Django's page otherwise."""
    return bad_request_for(request.path, exception)


def bad_request_for(path: str, exception: Exception) -> HttpResponse:
    """:func:`bad_request` for a request Django could not even build (only its path is known)."""
    if not path_wants_json(path):
        return _page(400, "Bad Request (400)", "")
    status = 413 if isinstance(exception, RequestDataTooBig) else 400
    return JsonResponse({"error": refusal(exception)}, status=status)


def body_limit() -> int:
    """The largest request body read at all: the form fields' limit, plus the images a prompt may carry."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440) + settings.ARENA_MAX_IMAGES * (
        settings.ARENA_IMAGE_MAX_BYTES + 64 * 1024)


def too_large_for(path: str, limit: int) -> HttpResponse:
    """413 for a body over :func:`body_limit`: JSON under the API, a plain page otherwise."""
    message = f"The request body is larger than the {limit:,} bytes allowed."
    if not path_wants_json(path):
        return _page(413, "Request Entity Too Large (413)", message)
    return JsonResponse({"error": message}, status=413)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404; JSON for the API (where no view matched, or one raised Http404), Django's page otherwise."""
    if not wants_json(request):
        return _page(404, "Not Found", "The requested resource was not found on this server.")
    return JsonResponse({"error": NO_ENDPOINT}, status=404)


def _page(status: int, title: str, details: str) -> HttpResponse:
    return HttpResponse(ERROR_PAGE_TEMPLATE % {"title": title, "details": details}, status=status)


def refusal(exception: Exception) -> str:
    """Why Django refused to read the request, in words for the client (never a traceback)."""
    if isinstance(exception, RequestDataTooBig):
        return f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes allowed."
    if isinstance(exception, MultiPartParserError):
        return "The request body is not valid multipart/form-data (is its boundary missing?)."
    if isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        return "The request has more fields or files than allowed."
    if isinstance(exception, DisallowedHost):
        return "The request's Host header names a host this server does not serve."
    if isinstance(exception, BadRequest) and str(exception):
        return str(exception)  # Django's own messages here are written for people (a form body not in UTF-8)
    return MALFORMED
