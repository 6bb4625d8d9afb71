"""What is particular to OpenAI-compatible servers."""

from __future__ import annotations

import pytest

from model_adapters import (
    BadRequest,
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

WIRE = PROVIDERS["openai"]
HI = [Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "Bye")]


def adapter(server: WireServer, **overrides: object):
    return registry.adapter_for("openai", WIRE.config(f"{server.url}/v1", **overrides))


async def test_the_request_carries_the_conversation_settings_and_asks_for_usage(wire_server, provider_key):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    settings = GenerationSettings(max_tokens=50, temperature=0.2, top_p=0.9, stop=("END",), seed=4)
    await collect(adapter(wire_server).stream(HI, settings))
    request = wire_server.requests[0]
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.body == {
        "model": "test-model", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 50,
        "temperature": 0.2, "top_p": 0.9, "seed": 4, "stop": ["END"],
        "messages": [{"role": m.role, "content": m.content} for m in HI],
    }


async def test_a_server_without_a_key_gets_no_authorization_header(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    await collect(adapter(wire_server, key_env="").stream(HI))
    assert "authorization" not in wire_server.requests[0].headers


async def test_options_turn_off_usage_rename_max_tokens_and_add_extra_body(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"], usage=None)))
    options = {"include_usage": False, "max_tokens_field": "max_completion_tokens", "extra_body": {"top_k": 5}}
    result = await collect(adapter(wire_server, key_env="", options=options).stream(HI))
    body = wire_server.requests[0].body
    assert "stream_options" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 1024 and body["top_k"] == 5
    assert result.tokens_counted is True


async def test_a_server_that_ends_without_done_still_finishes_cleanly(wire_server):
    parts = WIRE.answer(["no ", "done"], finish="length")
    wire_server.reply(Reply(parts=parts[:-1]))
    result = await collect(adapter(wire_server, key_env="").stream(HI))
    assert result.text == "no done"
    assert result.finish_reason == "length"


async def test_a_stream_cut_before_its_finish_reason_is_incomplete_not_stopped(wire_server):
    # A proxy closing the connection early looks like this: text, then nothing saying why it ended.
    parts = WIRE.answer(["half an ", "answ"], usage=None)
    wire_server.reply(Reply(parts=parts[:3]))
    result = await collect(adapter(wire_server, key_env="").stream(HI))
    assert result.text == "half an answ"
    assert result.finish_reason == "incomplete"


async def test_a_content_filter_stop_before_any_text_is_a_refusal(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer([], finish="content_filter")))
    with pytest.raises(ContentRefused):
        await collect(adapter(wire_server, key_env="").stream(HI))
    assert len(wire_server.requests) == 1


async def test_an_error_object_before_any_text_is_retried(wire_server, sleeps):
    error = sse({"error": {"message": "upstream overloaded", "code": 503}})
    wire_server.reply(Reply(parts=[error]), Reply(parts=WIRE.answer(["fine"])))
    config = WIRE.config(f"{wire_server.url}/v1", key_env="")
    result = await collect(registry.adapter_for("openai", config, sleep=sleeps).stream(HI))
    assert result.text == "fine" and result.attempts == 2


async def test_only_the_first_choice_is_streamed(wire_server):
    chunk = {"choices": [{"index": 1, "delta": {"content": "other"}}, {"index": 0, "delta": {"content": "mine"}}]}
    wire_server.reply(Reply(parts=[sse(chunk), b"data: [DONE]\n\n"]))
    assert (await collect(adapter(wire_server, key_env="").stream(HI))).text == "mine"


async def test_a_base_url_without_a_scheme_is_a_configuration_error():
    config = WIRE.config("localhost:8000/v1", key_env="")
    with pytest.raises(ConfigurationError, match="http"):
        await collect(registry.adapter_for("openai", config).stream(HI))


async def test_a_server_that_ignores_streaming_and_sends_plain_json_is_an_error_not_an_empty_answer(wire_server):
    completion = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}'
    wire_server.reply(Reply(parts=[completion], content_type="application/json"))
    with pytest.raises(ProviderError, match="without a single event"):
        await collect(adapter(wire_server, key_env="", max_retries=0).stream(HI))


async def test_a_404_hints_at_the_base_url_and_model_id(wire_server):
    wire_server.reply(Reply(404, [b'{"detail": "Not Found"}'], content_type="application/json"))
    with pytest.raises(BadRequest, match="check the base URL and the model id"):
        await collect(adapter(wire_server, key_env="").stream(HI))
