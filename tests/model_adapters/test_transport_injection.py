"""The one seam below the adapters: an injected httpx transport or client, for failures a server cannot script."""

from __future__ import annotations

import httpx
import pytest

from model_adapters import AdapterTimeout, Message, ProviderError, collect, registry

from .conftest import RecordedSleep
from .wire import PROVIDERS

HI = [Message("user", "Hi")]
WIRE = PROVIDERS["openai"]


def openai_adapter(sleeps: RecordedSleep, **kwargs: object):
    return registry.adapter_for("openai", WIRE.config("http://upstream.test/v1", key_env=""), sleep=sleeps, **kwargs)


async def test_an_injected_transport_carries_the_request_and_streams_the_answer(sleeps):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = b"".join(WIRE.answer(["via ", "mock"]))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    result = await collect(openai_adapter(sleeps, transport=httpx.MockTransport(handler)).stream(HI))
    assert result.text == "via mock"
    assert str(seen[0].url) == "http://upstream.test/v1/chat/completions"


async def test_an_injected_client_is_used_and_left_open_for_its_owner(sleeps):
    body = b"".join(WIRE.answer(["shared"]))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with httpx.AsyncClient(transport=transport) as client:
        result = await collect(openai_adapter(sleeps, http_client=client).stream(HI))
        assert result.text == "shared"
        assert not client.is_closed


async def test_a_connect_timeout_is_an_adapter_timeout_naming_the_connect_deadline(sleeps):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(AdapterTimeout, match=r"could not connect within 2 s"):
        await collect(openai_adapter(sleeps, transport=httpx.MockTransport(handler)).stream(HI))
    assert len(sleeps.delays) == 2  # retried: nothing was shown yet


async def test_transport_errors_never_carry_the_url_into_the_message(sleeps):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"failed reading {request.url}", request=request)

    with pytest.raises(ProviderError) as caught:
        await collect(openai_adapter(sleeps, transport=httpx.MockTransport(handler)).stream(HI))
    assert "upstream.test" not in str(caught.value)
