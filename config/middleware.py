import codecs
from collections.abc import Callable
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from arena.api import view_methods
from arena.human_check import content_security_origins

from .errors import wants_json

UTF8_CODECS = frozenset({"utf-8", "ascii"})  # codecs.lookup() names

def content_security_policy(extra: tuple[str, ...] = ()) -> str:
    """No inline script anywhere: every script is a static file, so script-src needs only 'self'; a hosted
    human check (``ARENA_HUMAN_CHECK``) adds its provider's origins for its script, frame and requests."""
    more = "".join(f" {origin}" for origin in extra)
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self'{more}",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self'{more}",
            *([f"frame-src 'self'{more}"] if extra else []),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


POLICY = content_security_policy()


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = content_security_policy(content_security_origins())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class RequestGuardMiddleware:
    """Refuses what no view should be handed, before any view or the CSRF check runs.

    - A request that declares a charset other than UTF-8 (or its subset ASCII) is a 400. Django
      decodes form fields in whatever charset the Content-Type names, and any codec Python knows
      will do: one that yields lone surrogates (``utf-7``, ``unicode_escape``) or one that is no
      text encoding at all (``rot13``, ``base64``) turns a form into a 500. Browsers send UTF-8,
      JSON is UTF-8 by definition (RFC 8259), and Django already refuses any other charset for
      urlencoded forms.
    - A method the view does not take is a 405 with ``Allow``. CsrfViewMiddleware refuses every
      unsafe method that lacks a token before the view's own method check runs, so a PUT to a
      POST-only endpoint would look like a CSRF failure (403). Views declare their methods with
      :func:`arena.api.allow_methods`; views that declare none are left to themselves. CSRF still
      checks every method a view takes, exactly as before.

    It must come before CsrfViewMiddleware. The API's answers are JSON (``config.client_errors``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        charset = (request.content_params or {}).get("charset")
        if charset is not None and not _utf8(charset):
            raise BadRequest(f"The request is declared in charset {charset[:40]!r}; send it in UTF-8.")
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> HttpResponse | None:
        allowed = view_methods(view)
        if allowed is None or request.method in allowed:
            return None
        if not wants_json(request):
            return HttpResponseNotAllowed(allowed)
        response = JsonResponse({"error": f"{request.method} is not allowed here; use {' or '.join(allowed)}."},
                                status=405)
        response["Allow"] = ", ".join(allowed)
        return response


def _utf8(charset: str) -> bool:
    """Whether ``charset`` names UTF-8 or ASCII, in any of the spellings Python knows."""
    try:
        return codecs.lookup(charset).name in UTF8_CODECS
    except LookupError:
        return False
