"""The contract every adapter kind honours, present and future: the same cases for each.

A new kind must add a harness here (a way to build an adapter that answers, and
one that fails before answering); the first test fails until it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model_adapters import AdapterConfig, AdapterError, BadRequest, GenerationSettings, Message, collect, registry
from model_adapters.base import ModelAdapter

from .wire import PROVIDERS, base_url_for
from .wire_server import Reply, WireServer

CHAT = [Message("system", "Be helpful."), Message("user", "Hello cat"), Message("assistant", "Yes ."),
        Message("user", "Why is the sun red ?")]
FINISH_REASONS = {"stop", "length", "content_filter"}


class Harness:
    """Builds adapters of one kind for the contract cases."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.request = request

    def answering(self) -> ModelAdapter:
        raise NotImplementedError

    def failing(self) -> ModelAdapter:
        raise NotImplementedError


class DemoHarness(Harness):
    def answering(self) -> ModelAdapter:
        return registry.adapter_for("demo", AdapterConfig(model="ibis", options={"delay": 0}))

    def failing(self) -> ModelAdapter:
        return registry.adapter_for("demo", AdapterConfig(model="ibis", options={"failure": "before_first"}))


class HTTPHarness(Harness):
    @property
    def server(self) -> WireServer:
        server: WireServer = self.request.getfixturevalue("wire_server")
        self.request.getfixturevalue("provider_key")
        return server

    def answering(self) -> ModelAdapter:
        wire = PROVIDERS[self.kind]
        words = [f"word{i} " for i in range(40)]
        self.server.reply(Reply(parts=[*(p for part in wire.answer(words) for p in (part, 0.002))]))
        return registry.adapter_for(self.kind, wire.config(base_url_for(self.kind, self.server.url)))

    def failing(self) -> ModelAdapter:
        wire = PROVIDERS[self.kind]
        self.server.reply(Reply(401, [wire.error_body("invalid key")], content_type="application/json"))
        return registry.adapter_for(self.kind, wire.config(base_url_for(self.kind, self.server.url)))


class LocalHarness(Harness):
    def answering(self) -> ModelAdapter:
        path: Path = self.request.getfixturevalue("checkpoint")
        return registry.adapter_for("local", AdapterConfig(model=str(path), max_retries=0))

    def failing(self) -> ModelAdapter:
        return registry.adapter_for("local", AdapterConfig(model="/nonexistent/checkpoint", max_retries=0))


HARNESSES: dict[str, type[Harness]] = {
    "demo": DemoHarness, "openai": HTTPHarness, "anthropic": HTTPHarness, "gemini": HTTPHarness,
    "local": LocalHarness,
}


def kind_params() -> Iterator[Any]:
    for kind in registry.kinds():
        marks = [pytest.mark.local_model] if registry.spec_for(kind).queue == "gpu" else []
        yield pytest.param(kind, marks=marks, id=kind)


@pytest.fixture(params=list(kind_params()))
def harness(request: pytest.FixtureRequest) -> Harness:
    return HARNESSES[request.param](request.param, request)


def test_every_registered_kind_has_a_contract_harness():
    assert set(HARNESSES) == set(registry.kinds())


async def test_it_streams_chunks_that_add_up_to_the_result(harness: Harness):
    response = harness.answering().stream(CHAT, GenerationSettings(max_tokens=24, temperature=0))
    chunks = [chunk async for chunk in response]
    result = response.result
    assert chunks and all(isinstance(c, str) and c for c in chunks)
    assert result is not None and result.text == "".join(chunks)
    assert result.input_tokens > 0 and result.output_tokens > 0
    assert result.time_to_first_token is not None and 0 <= result.time_to_first_token <= result.latency
    assert result.finish_reason in FINISH_REASONS
    assert result.attempts == 1


async def test_closing_after_the_first_chunk_records_a_cancelled_result(harness: Harness):
    response = harness.answering().stream(CHAT, GenerationSettings(max_tokens=24, temperature=0))
    shown: list[str] = []
    async with response:
        async for chunk in response:
            shown.append(chunk)
            break
    assert response.result is not None
    assert response.result.finish_reason == "cancelled"
    assert response.result.text == "".join(shown) != ""


async def test_a_failure_before_any_text_is_a_typed_error_with_a_voter_message(harness: Harness):
    response = harness.failing().stream(CHAT, GenerationSettings(max_tokens=8))
    with pytest.raises(AdapterError) as caught:
        await collect(response)
    assert caught.value.user_message and not caught.value.user_message.startswith("Traceback")
    assert isinstance(caught.value.retryable, bool)
    assert response.text == ""
    assert response.result is not None and response.result.finish_reason == "error"


def test_an_empty_conversation_is_rejected_before_any_work(harness: Harness):
    with pytest.raises(BadRequest):
        harness.failing().stream([], GenerationSettings(max_tokens=8))
