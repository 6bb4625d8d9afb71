"""What is particular to Gemini's streamGenerateContent."""

from __future__ import annotations

import json

import pytest

from model_adapters import ContentRefused, GenerationSettings, Message, RateLimited, collect, registry

from .wire import PROVIDERS, SECRET, sse
from .wire_server import Reply, WireServer

WIRE = PROVIDERS["gemini"]
CHAT = [Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "Bye")]

pytestmark = pytest.mark.usefixtures("provider_key")


def adapter(server: WireServer, sleeps=None, **overrides: object):
    kwargs = {"sleep": sleeps} if sleeps else {}
    return registry.adapter_for("gemini", WIRE.config(server.url, **overrides), **kwargs)


async def test_the_key_goes_in_a_header_never_in_the_url(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    await collect(adapter(wire_server).stream(CHAT))
    request = wire_server.requests[0]
    assert request.headers["x-goog-api-key"] == SECRET
    assert SECRET not in request.path and "key=" not in request.path


async def test_roles_system_instruction_and_generation_config_follow_gemini_names(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    settings = GenerationSettings(max_tokens=40, temperature=0.5, top_p=0.7, stop=("END",), seed=9)
    await collect(adapter(wire_server).stream(CHAT, settings))
    body = wire_server.requests[0].body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {
        "maxOutputTokens": 40, "temperature": 0.5, "topP": 0.7, "seed": 9, "stopSequences": ["END"],
    }


async def test_a_blocked_prompt_is_content_refused_and_not_retried(wire_server, sleeps):
    blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
               "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}
    wire_server.reply(Reply(parts=[sse(blocked)]), Reply(parts=WIRE.answer(["never"])))
    with pytest.raises(ContentRefused, match="SAFETY"):
        await collect(adapter(wire_server, sleeps).stream(CHAT))
    assert len(wire_server.requests) == 1


async def test_a_safety_stop_after_text_keeps_the_text_as_content_filter(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["partial answer"], finish="SAFETY")))
    result = await collect(adapter(wire_server).stream(CHAT))
    assert (result.text, result.finish_reason) == ("partial answer", "content_filter")


async def test_max_tokens_is_length_and_thinking_tokens_count_as_output(wire_server):
    parts = WIRE.answer(["long"], usage=(5, 3), finish="MAX_TOKENS")
    event = json.loads(parts[-1].decode().removeprefix("data: "))
    event["usageMetadata"]["thoughtsTokenCount"] = 20
    event["candidates"][0]["content"]["parts"].insert(0, {"text": "private reasoning", "thought": True})
    wire_server.reply(Reply(parts=[sse(event)]))
    result = await collect(adapter(wire_server).stream(CHAT))
    assert (result.text, result.finish_reason, result.output_tokens) == ("long", "length", 23)


async def test_a_429_with_a_google_retry_delay_is_waited_out(wire_server, sleeps):
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4s"}]}}
    wire_server.reply(Reply(429, [json.dumps(body).encode()]), Reply(parts=WIRE.answer(["ok"])))
    result = await collect(adapter(wire_server, sleeps).stream(CHAT))
    assert result.attempts == 2 and sleeps.delays == [4.0]


async def test_the_last_retry_delay_is_reported_when_quota_stays_exhausted(wire_server, sleeps):
    body = {"error": {"code": 429, "message": "Quota exceeded"}}
    wire_server.reply(Reply(429, [json.dumps(body).encode()], headers={"Retry-After": "2"}))
    with pytest.raises(RateLimited) as caught:
        await collect(adapter(wire_server, sleeps, max_retries=0).stream(CHAT))
    assert caught.value.retry_after == 2.0


async def test_a_base_url_with_its_api_version_is_used_as_given(wire_server):
    wire_server.reply(Reply(parts=WIRE.answer(["ok"])))
    config = WIRE.config(f"{wire_server.url}/v1")
    await collect(registry.adapter_for("gemini", config).stream(CHAT))
    assert wire_server.requests[0].path == "/v1/models/test-model:streamGenerateContent?alt=sse"
