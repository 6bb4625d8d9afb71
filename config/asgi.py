import os

import django
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from config.client_errors import bad_request_for  # noqa: E402 - needs the settings loaded


class ArenaASGIHandler(ASGIHandler):
    """Django's ASGI handler, answering a request it cannot even build with a 400 instead of crashing.

    Building the request can already parse the query string (a declared charset makes Django re-read
    it), so too many fields there raise before any middleware runs, and Django lets that escape.
    """

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
