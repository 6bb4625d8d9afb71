"""The cases every HTTP provider must pass, each against a local server speaking its exact wire format."""

from __future__ import annotations

import time

import pytest

from model_adapters import (
    AdapterTimeout,
    AuthenticationFailed,
    Message,
    ProviderError,
    RateLimited,
    Timeouts,
    collect,
    registry,
)
from model_adapters.base import GenerationSettings, ModelAdapter

from .conftest import RecordedSleep
from .wire import PROVIDERS, SECRET, ProviderWire, base_url_for
from .wire_server import Reply, WireServer, free_port_url

pytestmark = pytest.mark.usefixtures("provider_key")

HELLO = [Message("system", "Be brief."), Message("user", "Say hello")]


@pytest.fixture(params=sorted(PROVIDERS))
def wire(request: pytest.FixtureRequest) -> ProviderWire:
    return PROVIDERS[request.param]


def make_adapter(wire: ProviderWire, server: WireServer, sleeps: RecordedSleep, **overrides: object) -> ModelAdapter:
    config = wire.config(base_url_for(wire.kind, server.url), **overrides)
    return registry.adapter_for(wire.kind, config, sleep=sleeps)


async def test_it_streams_the_chunks_as_the_server_sends_them(wire_server, wire, sleeps):
    wire_server.reply(Reply(parts=wire.answer(["Hel", "lo", ", world"])))
    response = make_adapter(wire, wire_server, sleeps).stream(HELLO, GenerationSettings(max_tokens=32))
    chunks = [chunk async for chunk in response]
    assert chunks == ["Hel", "lo", ", world"]
    assert response.result is not None
    assert response.result.text == "Hello, world"
    assert response.result.finish_reason == "stop"
    assert 0 <= response.result.time_to_first_token <= response.result.latency
    request = wire_server.requests[0]
    assert request.path == wire.path
    assert SECRET in wire.auth_header(request.headers)


async def test_it_reports_the_token_usage_the_provider_sends(wire_server, wire, sleeps):
    wire_server.reply(Reply(parts=wire.answer(["Hi"], usage=(42, 5))))
    result = await collect(make_adapter(wire, wire_server, sleeps).stream(HELLO))
    assert (result.input_tokens, result.output_tokens) == (42, 5)
    assert result.tokens_counted is False


async def test_a_429_with_retry_after_is_waited_out_then_retried(wire_server, wire, sleeps):
    wire_server.reply(
        Reply(429, [wire.error_body("slow down")], headers={"Retry-After": "3"}, content_type="application/json"),
        Reply(parts=wire.answer(["ok"])),
    )
    result = await collect(make_adapter(wire, wire_server, sleeps).stream(HELLO))
    assert result.text == "ok"
    assert result.attempts == 2
    assert sleeps.delays == [3.0]


async def test_a_429_that_keeps_coming_gives_up_after_the_retry_budget(wire_server, wire, sleeps):
    for _ in range(3):
        wire_server.reply(Reply(429, [wire.error_body("slow")], headers={"Retry-After": "1"}))
    with pytest.raises(RateLimited) as caught:
        await collect(make_adapter(wire, wire_server, sleeps, max_retries=2).stream(HELLO))
    assert caught.value.retry_after == 1.0
    assert len(wire_server.requests) == 3


async def test_a_401_fails_at_once_without_leaking_the_key(wire_server, wire, sleeps):
    body = wire.error_body(f"Incorrect API key provided: {SECRET}")
    wire_server.reply(Reply(401, [body], content_type="application/json"))
    with pytest.raises(AuthenticationFailed) as caught:
        await collect(make_adapter(wire, wire_server, sleeps).stream(HELLO))
    assert caught.value.retryable is False
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert len(wire_server.requests) == 1


async def test_a_500_before_the_first_chunk_is_retried(wire_server, wire, sleeps):
    wire_server.reply(
        Reply(500, [wire.error_body("boom")], content_type="application/json"),
        Reply(parts=wire.answer(["recovered"])),
    )
    result = await collect(make_adapter(wire, wire_server, sleeps).stream(HELLO))
    assert result.text == "recovered"
    assert result.attempts == 2
    assert len(sleeps.delays) == 1


async def test_an_error_after_the_first_chunk_is_not_retried(wire_server, wire, sleeps):
    parts = wire.answer(["partial"])
    wire_server.reply(Reply(parts=[*parts[: len(parts) // 2 + 1], wire.mid_stream_error()]))
    response = make_adapter(wire, wire_server, sleeps).stream(HELLO)
    with pytest.raises(ProviderError):
        await collect(response)
    assert response.text == "partial"
    assert response.result is not None and response.result.finish_reason == "error"
    assert len(wire_server.requests) == 1
    assert sleeps.delays == []


async def test_a_connection_cut_mid_stream_fails_without_retry_and_keeps_the_text(wire_server, wire, sleeps):
    parts = wire.answer(["one ", "two ", "three"])
    wire_server.reply(Reply(parts=parts[:-2], cut=True))
    response = make_adapter(wire, wire_server, sleeps).stream(HELLO)
    with pytest.raises(ProviderError):
        await collect(response)
    assert response.text.startswith("one ")
    assert len(wire_server.requests) == 1


async def test_a_stall_past_the_stall_timeout_fails_fast(wire_server, wire, sleeps):
    parts: list[bytes | float] = list(wire.answer(["first", "never"]))
    after_first = next(i for i, part in enumerate(parts) if b'"first"' in part) + 1  # type: ignore[operator]
    parts.insert(after_first, 5.0)
    wire_server.reply(Reply(parts=parts))
    response = make_adapter(wire, wire_server, sleeps).stream(HELLO)
    started = time.monotonic()
    with pytest.raises(AdapterTimeout, match="stalled"):
        await collect(response)
    assert time.monotonic() - started < 2.0
    assert response.text == "first"


async def test_no_first_token_within_the_deadline_is_a_timeout(wire_server, wire, sleeps):
    wire_server.reply(Reply(parts=[5.0, *wire.answer(["late"])]))
    timeouts = Timeouts(connect=1.0, first_token=0.3, stall=0.3, total=5.0)
    with pytest.raises(AdapterTimeout, match="no text arrived"):
        await collect(make_adapter(wire, wire_server, sleeps, timeouts=timeouts, max_retries=0).stream(HELLO))


async def test_malformed_event_lines_are_skipped_and_the_answer_still_arrives(wire_server, wire, sleeps):
    noise = [b": keep-alive comment\n\n", b"this line has no colon\n\n", b"retry: 10\nunknown: field\n\n"]
    parts = wire.answer(["A", "B"])
    wire_server.reply(Reply(parts=[parts[0], *noise, *parts[1:]]))
    result = await collect(make_adapter(wire, wire_server, sleeps).stream(HELLO))
    assert result.text == "AB"


async def test_an_event_that_is_not_json_is_a_provider_error(wire_server, wire, sleeps):
    parts = wire.answer(["A"])
    wire_server.reply(Reply(parts=[*parts[:-1], b"data: {not json\n\n"]))
    response = make_adapter(wire, wire_server, sleeps, max_retries=0).stream(HELLO)
    with pytest.raises(ProviderError, match="malformed"):
        await collect(response)


async def test_a_very_long_answer_arrives_whole_even_when_events_straddle_network_chunks(wire_server, wire, sleeps):
    texts = [f"word{i} " for i in range(3000)]
    blob = b"".join(wire.answer(texts))
    pieces: list[bytes | float] = [blob[i : i + 997] for i in range(0, len(blob), 997)]
    wire_server.reply(Reply(parts=pieces))
    result = await collect(make_adapter(wire, wire_server, sleeps).stream(HELLO))
    assert result.text == "".join(texts)


async def test_closing_the_stream_early_closes_the_upstream_request(wire_server, wire, sleeps):
    parts = wire.answer([f"t{i} " for i in range(200)])
    paced: list[bytes | float] = []
    for part in parts:
        paced += [part, 0.02]
    wire_server.reply(Reply(parts=paced))
    response = make_adapter(wire, wire_server, sleeps).stream(HELLO)
    async with response:
        async for chunk in response:
            if chunk == "t2 ":
                break
    assert response.result is not None and response.result.finish_reason == "cancelled"
    assert wire_server.disconnected.wait(2.0), "the server kept streaming to nobody"


async def test_an_unreachable_server_is_retried_then_reported(wire, sleeps):
    config = wire.config(base_url_for(wire.kind, free_port_url()), max_retries=1)
    adapter = registry.adapter_for(wire.kind, config, sleep=sleeps)
    with pytest.raises(ProviderError, match="could not connect"):
        await collect(adapter.stream(HELLO))
    assert len(sleeps.delays) == 1
