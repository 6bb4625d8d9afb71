"""Each HTTP provider's wire format, written out byte for byte for the local test server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from model_adapters import AdapterConfig, Timeouts

SECRET = "sk-test-0123456789abcdefSECRET"
KEY_ENV = "ARENA_TEST_PROVIDER_KEY"
FAST = Timeouts(connect=2.0, first_token=2.0, stall=0.3, total=10.0)


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


@dataclass(frozen=True)
class ProviderWire:
    """What a test needs to script one provider: its config, a normal answer, its error shapes."""

    kind: str
    path: str

    def config(self, base_url: str, **overrides: Any) -> AdapterConfig:
        values: dict[str, Any] = {
            "model": "test-model", "base_url": base_url, "key_env": KEY_ENV, "timeouts": FAST, "max_retries": 2,
        }
        values.update(overrides)
        return AdapterConfig(**values)

    def answer(self, texts: list[str], usage: tuple[int, int] | None = (11, 7), finish: str = "") -> list[bytes]:
        raise NotImplementedError

    def mid_stream_error(self) -> bytes:
        raise NotImplementedError

    def error_body(self, message: str) -> bytes:
        return json.dumps({"error": {"message": message, "type": "error"}}).encode()

    def auth_header(self, headers: dict[str, str]) -> str:
        raise NotImplementedError


class OpenAIWire(ProviderWire):
    def answer(self, texts: list[str], usage: tuple[int, int] | None = (11, 7), finish: str = "stop") -> list[bytes]:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "test-model"}
        parts = [sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
        parts += [sse({**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
                       "usage": None}) for t in texts]
        parts.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
        if usage:
            parts.append(sse({**base, "choices": [], "usage": {
                "prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}))
        parts.append(b"data: [DONE]\n\n")
        return parts

    def mid_stream_error(self) -> bytes:
        return sse({"error": {"message": "internal server error", "type": "server_error", "code": 500}})

    def auth_header(self, headers: dict[str, str]) -> str:
        return headers.get("authorization", "")


class AnthropicWire(ProviderWire):
    def answer(
        self, texts: list[str], usage: tuple[int, int] | None = (11, 7), finish: str = "end_turn"
    ) -> list[bytes]:
        inp, out = usage or (0, 0)
        message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "test-model",
                   "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": inp, "output_tokens": 1}}
        parts = [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start"),
            sse({"type": "ping"}, "ping"),
        ]
        parts += [sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
                      "content_block_delta") for t in texts]
        parts += [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse({"type": "message_delta", "delta": {"stop_reason": finish, "stop_sequence": None},
                 "usage": {"output_tokens": out}}, "message_delta"),
            sse({"type": "message_stop"}, "message_stop"),
        ]
        return parts

    def mid_stream_error(self) -> bytes:
        return sse({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}, "error")

    def error_body(self, message: str) -> bytes:
        return json.dumps({"type": "error", "error": {"type": "api_error", "message": message}}).encode()

    def auth_header(self, headers: dict[str, str]) -> str:
        return headers.get("x-api-key", "")


class GeminiWire(ProviderWire):
    def answer(self, texts: list[str], usage: tuple[int, int] | None = (11, 7), finish: str = "STOP") -> list[bytes]:
        parts = []
        for index, text in enumerate(texts):
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            if index == len(texts) - 1:
                candidate["finishReason"] = finish
            event: dict[str, Any] = {"candidates": [candidate], "modelVersion": "test-model"}
            if usage:
                event["usageMetadata"] = {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                                          "totalTokenCount": sum(usage)}
            parts.append(sse(event))
        return parts

    def mid_stream_error(self) -> bytes:
        return sse({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})

    def error_body(self, message: str) -> bytes:
        return json.dumps({"error": {"code": 500, "message": message, "status": "INTERNAL"}}).encode()

    def auth_header(self, headers: dict[str, str]) -> str:
        return headers.get("x-goog-api-key", "")


PROVIDERS = {
    "openai": OpenAIWire("openai", "/v1/chat/completions"),
    "anthropic": AnthropicWire("anthropic", "/v1/messages"),
    "gemini": GeminiWire("gemini", "/v1beta/models/test-model:streamGenerateContent?alt=sse"),
}


def base_url_for(kind: str, server_url: str) -> str:
    """OpenAI-compatible base URLs end in /v1; the others are the bare host."""
    return f"{server_url}/v1" if kind == "openai" else server_url
