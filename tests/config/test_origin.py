"""Battle sockets open only from this site's own pages: same scheme, host and port."""

from __future__ import annotations

import pytest
from django.test import override_settings

from config.origin import origin_allowed, origin_of
from tests.arena.test_consumers import _close_thread_connections, battle_for_new_session, communicator  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def scope(origin: str | None, host: str = "localhost:8000", scheme: str = "ws") -> dict[str, object]:
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin is not None else [])
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://localhost:8000", "localhost:8000", "ws", True),
        ("http://localhost:8001", "localhost:8000", "ws", False),   # the same host on another port
        ("https://localhost:8000", "localhost:8000", "ws", False),  # or another scheme
        ("https://localhost", "localhost", "wss", True),
        ("http://localhost", "localhost", "wss", False),
        ("http://localhost", "localhost:80", "ws", True),            # the default port, written or not
        ("http://evil.example", "localhost", "ws", False),
        ("http://evil.example", "evil.example", "ws", False),        # a host we do not serve
        (None, "localhost", "ws", False),
        ("null", "localhost", "ws", False),
    ],
)
def test_the_origin_must_be_the_sockets_own(origin, host, scheme, allowed) -> None:
    assert origin_allowed(scope(origin, host, scheme)) is allowed


def test_an_origin_listed_in_csrf_trusted_origins_is_allowed() -> None:
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://arena.example.org"]):
        assert origin_allowed(scope("https://arena.example.org", host="localhost"))
        assert not origin_allowed(scope("https://arena.example.org:8443", host="localhost"))


def test_behind_a_tls_proxy_the_forwarded_scheme_counts_only_when_the_proxy_is_trusted() -> None:
    headers = scope("https://localhost", host="localhost")
    headers["headers"].append((b"x-forwarded-proto", b"https"))  # type: ignore[union-attr]
    assert not origin_allowed(headers)
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        assert origin_allowed(headers)


def test_origins_are_compared_with_their_default_ports() -> None:
    assert origin_of("https://Example.org") == ("https", "example.org", 443)
    assert origin_of("ftp://example.org") is None and origin_of("http://[bad") is None


async def test_a_page_on_another_port_cannot_open_a_battle_socket() -> None:
    battle_id, session_key = await battle_for_new_session()
    refused = communicator(battle_id, session_key, origin="http://localhost:8001")
    assert not (await refused.connect())[0]
    accepted = communicator(battle_id, session_key, origin="http://localhost")
    assert (await accepted.connect())[0]
    await accepted.disconnect()
