"""The contract every adapter kind honours, present and future: the same cases for each.

A new kind must add a harness here (a way to build an adapter that answers, one
that fails before answering, one that sees images and the check that an image
reached its model in the kind's format); the first test fails until it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model_adapters import (
    AdapterConfig,
    AdapterError,
    BadRequest,
    GenerationSettings,
    Message,
    StreamResult,
    collect,
    registry,
)
from model_adapters.base import ModelAdapter
from model_adapters.conversation import Image

from .pictures import RED_AND_BLUE_SENTENCE, red_and_blue
from .wire import PROVIDERS, base_url_for
from .wire_server import Reply, WireServer

CHAT = [Message("system", "Be helpful."), Message("user", "Hello cat"), Message("assistant", "Yes ."),
        Message("user", "Why is the sun red ?")]
FINISH_REASONS = {"stop", "length", "content_filter"}
PICTURE = red_and_blue()
SEEING = [Message("system", "Be helpful."), Message("user", "Hello cat"), Message("assistant", "Yes ."),
          Message("user", "What is it ?", (PICTURE,))]


class Harness:
    """Builds adapters of one kind for the contract cases."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.request = request

    def answering(self) -> ModelAdapter:
        raise NotImplementedError

    def failing(self) -> ModelAdapter:
        raise NotImplementedError

    def seeing(self) -> ModelAdapter:
        """An adapter whose model takes images."""
        return self.answering()

    def blind(self) -> ModelAdapter:
        """An adapter of this kind that takes no images: by default, the kind's class with supports_images off."""
        adapter = self.answering()
        blind_class = type(f"Blind{type(adapter).__name__}", (type(adapter),), {"supports_images": False})
        return blind_class(adapter.config, http_client=adapter._http_client, transport=adapter._transport)

    async def assert_image_sent(self, result: StreamResult, image: Image) -> None:
        """That the streamed conversation ``SEEING`` took ``image`` to the model, in this kind's format."""
        raise NotImplementedError


class DemoHarness(Harness):
    def answering(self) -> ModelAdapter:
        return registry.adapter_for("demo", AdapterConfig(model="ibis", options={"delay": 0}))

    def failing(self) -> ModelAdapter:
        return registry.adapter_for("demo", AdapterConfig(model="ibis", options={"failure": "before_first"}))

    async def assert_image_sent(self, result: StreamResult, image: Image) -> None:
        assert result.text.startswith(RED_AND_BLUE_SENTENCE + "\n\n")


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

    async def assert_image_sent(self, result: StreamResult, image: Image) -> None:
        body = self.server.requests[-1].body
        if self.kind == "openai":
            *earlier, last = body["messages"]
            assert last == {"role": "user", "content": [
                {"type": "text", "text": "What is it ?"},
                {"type": "image_url", "image_url": {"url": image.data_url()}},
            ]}
            assert all(isinstance(m["content"], str) for m in earlier), "messages without images stay plain strings"
            assert image.data_url().startswith("data:image/png;base64,iVBOR")
        elif self.kind == "anthropic":
            *earlier, last = body["messages"]
            assert last == {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image.base64()}},
                {"type": "text", "text": "What is it ?"},
            ]}
            assert all(isinstance(m["content"], str) for m in earlier)
        elif self.kind == "gemini":
            *earlier, last = body["contents"]
            assert last == {"role": "user", "parts": [
                {"inline_data": {"mime_type": "image/png", "data": image.base64()}},
                {"text": "What is it ?"},
            ]}
            assert all(m["parts"] == [{"text": m["parts"][0]["text"]}] for m in earlier)
        else:
            raise AssertionError(f"no image format known for {self.kind}")
        assert self.server.refused == [], "the wire server found the request well formed"


class LocalHarness(Harness):
    def answering(self) -> ModelAdapter:
        path: Path = self.request.getfixturevalue("checkpoint")
        return registry.adapter_for("local", AdapterConfig(model=str(path), max_retries=0))

    def failing(self) -> ModelAdapter:
        return registry.adapter_for("local", AdapterConfig(model="/nonexistent/checkpoint", max_retries=0))

    def seeing(self) -> ModelAdapter:
        path: Path = self.request.getfixturevalue("vision_checkpoint")
        return registry.adapter_for("local", AdapterConfig(model=str(path), max_retries=0))

    def blind(self) -> ModelAdapter:
        return self.answering()  # the text-only checkpoint: it has no image processor

    async def assert_image_sent(self, result: StreamResult, image: Image) -> None:
        from .tiny_checkpoint import IMAGE_TOKENS_PER_IMAGE

        text_only = [*SEEING[:-1], Message("user", SEEING[-1].content)]
        without = await collect(self.seeing().stream(text_only, GenerationSettings(max_tokens=4, temperature=0)))
        assert result.input_tokens == without.input_tokens + IMAGE_TOKENS_PER_IMAGE, "the image's tokens were in the prompt"


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


async def test_an_image_in_the_latest_user_message_reaches_the_model_in_the_kinds_format(harness: Harness):
    adapter = harness.seeing()
    assert adapter.accepts_images()
    result = await collect(adapter.stream(SEEING, GenerationSettings(max_tokens=24, temperature=0)))
    assert result.text and result.finish_reason in FINISH_REASONS
    await harness.assert_image_sent(result, PICTURE)


def test_a_model_that_takes_no_images_refuses_them_before_any_work(harness: Harness):
    adapter = harness.blind()
    assert not adapter.accepts_images()
    with pytest.raises(BadRequest) as caught:
        adapter.stream(SEEING, GenerationSettings(max_tokens=8))
    assert "images" in str(caught.value)
    assert caught.value.user_message == "This model cannot take images."
    if isinstance(harness, HTTPHarness):
        assert harness.server.requests == [], "nothing was sent"


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
async def test_an_image_that_is_not_what_its_media_type_says_is_refused_by_the_wire_server(kind, wire_server, provider_key):
    wire = PROVIDERS[kind]
    wire_server.reply(Reply(parts=wire.answer(["never sent"])))
    fake = Image("image/png", b"GIF89a not a png at all", 8, 8)
    adapter = registry.adapter_for(kind, wire.config(base_url_for(kind, wire_server.url)))
    with pytest.raises(BadRequest, match=r"HTTP 400: .*not image/png"):
        await collect(adapter.stream([Message("user", "What is it ?", (fake,))]))
    assert len(wire_server.requests) == 1, "a 400 is not retried"
    assert len(wire_server.refused) == 1
