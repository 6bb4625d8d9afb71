from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .wire import KEY_ENV, SECRET, check_request
from .wire_server import WireServer


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama checkpoint with a chat template, built once per test session."""
    pytest.importorskip("transformers")
    from .tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def vision_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaVA (CLIP vision tower, Llama text model) with its processor, built once per test session."""
    pytest.importorskip("transformers")
    from .tiny_checkpoint import build_tiny_vision_checkpoint

    return build_tiny_vision_checkpoint(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture
def wire_server() -> Iterator[WireServer]:
    """A local server playing scripted replies, refusing requests malformed for the provider (wire.check_request)."""
    server = WireServer(check=check_request).start()
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
