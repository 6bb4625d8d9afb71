import os

import django
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from config.client_errors import bad_request_for, body_limit, too_large_for  # noqa: E402 - needs the settings


class BodyTooLarge(Exception):
    pass


def _content_length(scope) -> int | None:  # type: ignore[no-untyped-def]
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ArenaASGIHandler(ASGIHandler):
    """Django's ASGI handler, answering a request it cannot even build with a 400 instead of crashing.

    Building the request can already parse the query string (a declared charset makes Django re-read
    it), so too many fields there raise before any middleware runs, and Django lets that escape.
    """

    async def handle(self, scope, receive, send):  # type: ignore[no-untyped-def]  # Django's own signature
        """Refuse a body larger than :func:`body_limit` with a 413, before reading more of it than that.

        Django reads the whole body (to memory, then a temporary file) before any view or middleware runs,
        so this is the one place where a huge upload can be stopped.
        """
        limit = body_limit()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(scope, send, limit)
            return
        received = 0

        async def bounded_receive():  # type: ignore[no-untyped-def]
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await super().handle(scope, bounded_receive, send)
        except BodyTooLarge:
            await self._too_large(scope, send, limit)

    async def _too_large(self, scope, send, limit: int) -> None:  # type: ignore[no-untyped-def]
        response = too_large_for(scope.get("path", ""), limit)
        await self.send_response(response, send)

    def create_request(self, scope, body_file):  # type: ignore[no-untyped-def]  # Django's own signature
        try:
            return super().create_request(scope, body_file)
        except SuspiciousOperation as exc:
            return None, bad_request_for(scope.get("path", ""), exc)


django_asgi_app = ArenaASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from arena.routing import websocket_urlpatterns  # noqa: E402
from config.origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
