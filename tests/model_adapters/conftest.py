from __future__ import annotations

from collections.abc import Iterator

import pytest

from .wire import KEY_ENV, SECRET
from .wire_server import WireServer


@pytest.fixture
def wire_server() -> Iterator[WireServer]:
    server = WireServer().start()
    yield server
    server.stop()


@pytest.fixture
def provider_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


class RecordedSleep:
    """An injected ``sleep`` that records the backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()
