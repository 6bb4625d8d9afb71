"""What is particular to Anthropic's Messages API."""

from __future__ import annotations

import pytest

from model_adapters import (
    ConfigurationError,
    ContentRefused,
    GenerationSettings,
    Message,
    ProviderError,
    collect,
    registry,
)

from .wire import PROVIDERS, SECRET, sse
from .wire_server import Reply, WireServer

WIRE = PROVIDERS["anthropic"]
CHAT = [Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "Bye")]
OVERLOADED = sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")

pytestmark = pytest.mark.usefixtures("provider_key")


def adapter(server: WireServer, sleeps=None, **overrides: object):
    kwargs = {"sleep": sleeps} if sleeps else {}
    return registry.adapter_for("anthropic", WIRE.config(server.url, **overrides), **kwargs)


async def test_the_system_prompt_goes_top_level_and_the_key_in_x_api_key(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    settings = GenerationSettings(max_tokens=50, temperature=0.3, top_p=0.8, stop=("END",), seed=1)
    await collect(adapter(wire_server).stream(CHAT, settings))
    request = wire_server.requests[0]
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.body == {
        "model": "test-model", "max_tokens": 50, "stream": True, "system": "Be brief.", "temperature": 0.3,
        "top_p": 0.8, "stop_sequences": ["END"],
        "messages": [{"role": m.role, "content": m.content} for m in CHAT[1:]],
    }


async def test_overloaded_error_before_any_text_is_retried(wire_server, sleeps):
    wire_server.reply(Reply(parts=[*WIRE.answer([])[:1], OVERLOADED]), Reply(parts=WIRE.answer(["back"])))
    result = await collect(adapter(wire_server, sleeps).stream(CHAT))
    assert result.text == "back" and result.attempts == 2


async def test_overloaded_error_mid_stream_fails_without_retry(wire_server, sleeps):
    parts = WIRE.answer(["half"])
    wire_server.reply(Reply(parts=[*parts[:4], OVERLOADED]), Reply(parts=WIRE.answer(["never"])))
    response = adapter(wire_server, sleeps).stream(CHAT)
    with pytest.raises(ProviderError, match="overloaded_error"):
        await collect(response)
    assert response.text == "half"
    assert len(wire_server.requests) == 1


async def test_a_529_status_is_retried(wire_server, sleeps):
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    wire_server.reply(Reply(529, [body], content_type="application/json"), Reply(parts=WIRE.answer(["ok"])))
    assert (await collect(adapter(wire_server, sleeps).stream(CHAT))).attempts == 2


async def test_usage_counts_cached_input_and_the_final_output_count(wire_server):
    parts = WIRE.answer(["a"], usage=(10, 3))
    parts[0] = parts[0].replace(b'"input_tokens": 10', b'"input_tokens": 10, "cache_read_input_tokens": 5')
    wire_server.reply(Reply(parts=parts))
    result = await collect(adapter(wire_server).stream(CHAT))
    assert (result.input_tokens, result.output_tokens) == (15, 3)


async def test_max_tokens_is_reported_as_length(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["cut"], finish="max_tokens")))
    assert (await collect(adapter(wire_server).stream(CHAT))).finish_reason == "length"


async def test_thinking_deltas_are_not_shown(wire_server):
    thinking = sse({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "hmm"}}, "content_block_delta")
    parts = WIRE.answer(["answer"])
    wire_server.reply(Reply(parts=[*parts[:3], thinking, *parts[3:]]))
    assert (await collect(adapter(wire_server).stream(CHAT))).text == "answer"


async def test_a_refusal_without_text_is_content_refused(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer([], finish="refusal")))
    with pytest.raises(ContentRefused):
        await collect(adapter(wire_server).stream(CHAT))


async def test_a_missing_key_fails_before_any_request(wire_server, monkeypatch):
    monkeypatch.delenv("ARENA_TEST_PROVIDER_KEY")
    with pytest.raises(ConfigurationError, match="ARENA_TEST_PROVIDER_KEY"):
        await collect(adapter(wire_server).stream(CHAT))
    assert wire_server.requests == []


async def test_a_base_url_that_already_ends_in_v1_is_not_doubled(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    config = WIRE.config(f"{wire_server.url}/v1/")
    await collect(registry.adapter_for("anthropic", config).stream(CHAT))
    assert wire_server.requests[0].path == "/v1/messages"
