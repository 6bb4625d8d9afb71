"""The websocket's origin check: the page must come from this very site, scheme, host and port.

Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS only, so a page served
from the same host on another port or scheme could open battle sockets. Here the Origin must equal the
origin of the socket's own URL (``ws`` pairs with ``http``, ``wss`` with ``https``; behind a TLS proxy with
ARENA_BEHIND_PROXY, its ``X-Forwarded-Proto: https`` makes it ``https``), or be one of CSRF_TRUSTED_ORIGINS,
and the Host must be an allowed host. Anything else is refused before the handshake (HTTP 403).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of an http(s) origin, the port filled in; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def socket_origin(scope: dict[str, Any], headers: dict[bytes, bytes]) -> Origin | None:
    """The origin of the page that may open this socket: its own scheme, host and port."""
    host = headers.get(b"host", b"").decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    secure = scope.get("scheme") == "wss" or (
        settings.SECURE_PROXY_SSL_HEADER is not None and headers.get(b"x-forwarded-proto", b"") == b"https")
    return origin_of(f"{'https' if secure else 'http'}://{host}")


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = {name: value for name, value in scope.get("headers", [])}
    claimed = origin_of(headers.get(b"origin", b"").decode("latin1"))
    if claimed is None:
        return False
    trusted = {origin_of(url) for url in settings.CSRF_TRUSTED_ORIGINS}
    return claimed == socket_origin(scope, headers) or claimed in trusted


class SameOriginValidator:
    """ASGI middleware for the websocket router: refuses sockets whose Origin is not this site's."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
