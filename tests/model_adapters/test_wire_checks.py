"""The test server checks request bodies the way each provider's API documents them, images above all.

What each adapter sends passes; a malformed image part is answered 400 in the provider's own error format,
which the adapters read as a BadRequest carrying the provider's message.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from model_adapters import BadRequest, GenerationSettings, Message, registry
from model_adapters.httpstream import error_for_response

from .pictures import picture, red_and_blue
from .wire import PROVIDERS, base_url_for, check_request

PNG = red_and_blue()
JPEG = picture(8, 8, [(8, (0, 128, 0))], media_type="image/jpeg")
CHAT = [Message("system", "Be brief."), Message("user", "Hello"), Message("assistant", "Hi ."),
        Message("user", "What are these ?", (PNG, JPEG))]
Mutation = Callable[[dict[str, Any]], None]


def sent_body(kind: str) -> dict[str, Any]:
    """The body the adapter of ``kind`` sends for CHAT."""
    adapter = registry.adapter_for(kind, PROVIDERS[kind].config(base_url_for(kind, "http://127.0.0.1:9")))
    body: dict[str, Any] = adapter.request_body(CHAT, GenerationSettings(max_tokens=8))  # type: ignore[attr-defined]
    return json.loads(json.dumps(body))


def last_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "contents" in body:
        return body["contents"][-1]["parts"]
    return body["messages"][-1]["content"]


def set_in(path: tuple[Any, ...], value: Any) -> Mutation:
    """Set ``value`` at ``path`` inside the last message's parts (``...`` as the value deletes the key)."""
    def mutate(body: dict[str, Any]) -> None:
        target: Any = last_parts(body)
        for key in path[:-1]:
            target = target[key]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return mutate


MALFORMED: dict[str, dict[str, Mutation]] = {
    "openai": {
        "no url": set_in((1, "image_url", "url"), ...),
        "not a data url": set_in((1, "image_url", "url"), "image/png;base64,AAAA"),
        "unsupported media type": set_in((1, "image_url", "url"), "data:image/bmp;base64," + PNG.base64()),
        "base64 that does not decode": set_in((1, "image_url", "url"), "data:image/png;base64,@@not base64@@"),
        "bytes of another type": set_in((1, "image_url", "url"), "data:image/png;base64," + JPEG.base64()),
        "image_url as a string": set_in((1, "image_url"), PNG.data_url()),
        "unknown part type": set_in((1, "type"), "image"),
        "bad detail": set_in((1, "image_url", "detail"), "ultra"),
        "image in an assistant message": lambda body: body["messages"][2].update(
            content=[{"type": "image_url", "image_url": {"url": PNG.data_url()}}]),
        "empty content list": lambda body: body["messages"][-1].update(content=[]),
    },
    "anthropic": {
        "unknown source type": set_in((0, "source", "type"), "file"),
        "no media type": set_in((0, "source", "media_type"), ...),
        "unsupported media type": set_in((0, "source", "media_type"), "image/bmp"),
        "base64 that does not decode": set_in((0, "source", "data"), "@@not base64@@"),
        "a data URL instead of base64": set_in((0, "source", "data"), PNG.data_url()),
        "bytes of another type": set_in((0, "source", "data"), JPEG.base64()),
        "empty text block": set_in((2, "text"), ""),
        "image_url block": set_in((0,), {"type": "image_url", "image_url": {"url": PNG.data_url()}}),
        "system message in messages": lambda body: body["messages"].insert(0, {"role": "system", "content": "x"}),
    },
    "gemini": {
        "no mime type": set_in((0, "inline_data", "mime_type"), ...),
        "unsupported mime type": set_in((0, "inline_data", "mime_type"), "image/bmp"),
        "data that does not decode": set_in((0, "inline_data", "data"), "@@not base64@@"),
        "bytes of another type": set_in((1, "inline_data", "data"), PNG.base64()),
        "a part with two data fields": set_in((0, "text"), "extra"),
        "an empty text part": set_in((2, "text"), ""),
        "no parts": lambda body: body["contents"][-1].update(parts=[]),
        "assistant role": lambda body: body["contents"][-1].update(role="assistant"),
    },
}

CASES = [pytest.param(kind, name, id=f"{kind}: {name}") for kind, cases in MALFORMED.items() for name in cases]


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_what_each_adapter_sends_with_images_is_well_formed(kind):
    body = sent_body(kind)
    assert check_request(PROVIDERS[kind].path, body) is None
    assert len([p for p in last_parts(body) if "text" not in p]) == 2


def test_the_camel_case_and_url_safe_forms_gemini_also_takes_pass():
    body = sent_body("gemini")
    part = last_parts(body)[0]
    blob = part.pop("inline_data")
    part["inlineData"] = {"mimeType": blob["mime_type"], "data": blob["data"].replace("+", "-").replace("/", "_")}
    assert check_request(PROVIDERS["gemini"].path, body) is None


@pytest.mark.parametrize(("kind", "name"), CASES)
async def test_a_malformed_request_is_answered_400_in_the_provider_s_error_format(kind, name, wire_server):
    wire = PROVIDERS[kind]
    body = copy.deepcopy(sent_body(kind))
    MALFORMED[kind][name](body)
    async with httpx.AsyncClient() as client:
        response = await client.post(wire_server.url + wire.path, json=body)
    assert response.status_code == 400
    payload = response.json()
    if kind == "openai":
        assert payload["error"]["type"] == "invalid_request_error" and payload["error"]["message"]
    elif kind == "anthropic":
        assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    else:
        assert payload["error"]["code"] == 400 and payload["error"]["status"] == "INVALID_ARGUMENT"
    error = error_for_response(400, response.headers, response.content, provider=kind)
    assert isinstance(error, BadRequest)
    assert payload["error"]["message"][:40] in str(error)
