"""Each HTTP provider's wire format, written out byte for byte for the local test server.

Each provider also checks requests the way its API documents them (:meth:`ProviderWire.problem`): the
messages' shape and, above all, how images travel. :func:`check_request` is what the test server runs on
every request; a malformed one is answered 400 in that provider's error format, as the real API would.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
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

    def problem(self, body: Any) -> str | None:
        """What the real API would reject in this request body, or None when it is well formed."""
        raise NotImplementedError

    def invalid_request_body(self, message: str) -> bytes:
        """The provider's 400 body for a malformed request."""
        raise NotImplementedError


# The signatures that start each image format, to check that the bytes are what the media type says.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/heic": (b"",),
    "image/heif": (b"",),
}


def image_data_problem(media_type: Any, data: Any, allowed: tuple[str, ...], *, urlsafe: bool = False) -> str | None:
    """Why base64 ``data`` declared as ``media_type`` is not an acceptable image, or None."""
    if not isinstance(media_type, str) or media_type not in allowed:
        return f"media type {media_type!r} is not one of {', '.join(allowed)}"
    if not isinstance(data, str) or not data:
        return "image data must be a non-empty base64 string"
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
        if urlsafe:
            try:
                raw = base64.urlsafe_b64decode(data)
            except (binascii.Error, ValueError):
                raw = b""
        if not raw:
            return "image data is not valid base64"
    if not raw.startswith(_MAGIC[media_type]) or (media_type == "image/webp" and raw[8:12] != b"WEBP"):
        return f"the image data is not {media_type}"
    return None


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

    IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
    DATA_URL = re.compile(r"^data:([\w/+.-]+);base64,(.*)$", re.S)

    def problem(self, body: Any) -> str | None:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        for i, message in enumerate(messages):
            where = f"messages[{i}]"
            if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant"):
                return f"Invalid value for '{where}.role'"
            content = message.get("content")
            if isinstance(content, str):
                continue
            if not isinstance(content, list) or not content:
                return f"Invalid type for '{where}.content': expected a string or a non-empty array of content parts"
            for j, part in enumerate(content):
                problem = self._part_problem(part, message["role"], f"{where}.content[{j}]")
                if problem:
                    return problem
        return None

    def _part_problem(self, part: Any, role: str, where: str) -> str | None:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            return None if isinstance(part.get("text"), str) else f"Missing required parameter: '{where}.text'"
        if kind != "image_url":
            return f"Invalid value for '{where}.type': expected 'text' or 'image_url'"
        if role != "user":
            return f"Invalid '{where}': image content parts are only allowed in messages with role 'user'"
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else None
        if not isinstance(url, str):
            return f"Missing required parameter: '{where}.image_url.url'"
        if image_url.get("detail", "auto") not in ("auto", "low", "high"):
            return f"Invalid value for '{where}.image_url.detail'"
        if url.startswith(("http://", "https://")):
            return None
        match = self.DATA_URL.match(url)
        if not match:
            return f"Invalid image URL: '{where}.image_url.url'. Expected a base64-encoded data URL with an image MIME type"
        problem = image_data_problem(match.group(1), match.group(2), self.IMAGE_TYPES)
        return f"Invalid image in '{where}.image_url.url': {problem}" if problem else None

    def invalid_request_body(self, message: str) -> bytes:
        return json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_value"}}
        ).encode()


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

    IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")

    def problem(self, body: Any) -> str | None:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return "messages: Field required (a non-empty list)"
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
            content = message.get("content")
            if isinstance(content, str):
                continue
            if not isinstance(content, list) or not content:
                return f"messages.{i}.content: Input should be a valid string or a non-empty list of content blocks"
            for j, block in enumerate(content):
                problem = self._block_problem(block, message["role"], f"messages.{i}.content.{j}")
                if problem:
                    return problem
        return None

    def _block_problem(self, block: Any, role: str, where: str) -> str | None:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text = block.get("text")
            return None if isinstance(text, str) and text else f"{where}.text: text content blocks must be non-empty"
        if kind != "image":
            return f"{where}: Input tag {kind!r} found using 'type' does not match any of the expected tags"
        if role != "user":
            return f"{where}: image blocks are only allowed in user messages"
        source = block.get("source")
        source_type = source.get("type") if isinstance(source, dict) else None
        if source_type == "url":
            return None if isinstance(source.get("url"), str) else f"{where}.image.source.url.url: Field required"
        if source_type != "base64":
            return f"{where}.image.source: Input tag {source_type!r} found using 'type' does not match 'base64' or 'url'"
        media_type = source.get("media_type")
        if media_type not in self.IMAGE_TYPES:
            return (f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' "
                    "or 'image/webp'")
        problem = image_data_problem(media_type, source.get("data"), self.IMAGE_TYPES)
        return f"{where}.image.source.base64.data: {problem}" if problem else None

    def invalid_request_body(self, message: str) -> bytes:
        return json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": message}}).encode()


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

    IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
    DATA_FIELDS = ("text", "inline_data", "inlineData", "file_data", "fileData", "function_call", "functionCall",
                   "function_response", "functionResponse")

    def problem(self, body: Any) -> str | None:
        contents = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        system = body.get("systemInstruction", body.get("system_instruction"))
        if system is not None:
            problem = self._parts_problem(system.get("parts") if isinstance(system, dict) else None, "system_instruction")
            if problem:
                return problem
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
                return f"Please use a valid role: user, model. (contents[{i}].role)"
            problem = self._parts_problem(content.get("parts"), f"contents[{i}]")
            if problem:
                return problem
        return None

    def _parts_problem(self, parts: Any, where: str) -> str | None:
        if not isinstance(parts, list) or not parts:
            return f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
        for j, part in enumerate(parts):
            here = f"{where}.parts[{j}]"
            fields = [f for f in self.DATA_FIELDS if isinstance(part, dict) and f in part]
            if len(fields) != 1:
                return f"Invalid value at '{here}': a part must have exactly one data field, not {len(fields)}"
            if fields[0] == "text":
                if not isinstance(part["text"], str) or not part["text"]:
                    return f"Unable to submit request because it has an empty text parameter ({here}.text)"
            elif fields[0] in ("inline_data", "inlineData"):
                blob = part[fields[0]]
                if not isinstance(blob, dict):
                    return f"Invalid value at '{here}.inline_data' (type.googleapis.com/google.ai.generativelanguage.v1beta.Blob)"
                media_type = blob.get("mime_type", blob.get("mimeType"))
                problem = image_data_problem(media_type, blob.get("data"), self.IMAGE_TYPES, urlsafe=True)
                if problem:
                    return f"Invalid value at '{here}.inline_data': {problem}"
        return None

    def invalid_request_body(self, message: str) -> bytes:
        return json.dumps({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}).encode()


PROVIDERS = {
    "openai": OpenAIWire("openai", "/v1/chat/completions"),
    "anthropic": AnthropicWire("anthropic", "/v1/messages"),
    "gemini": GeminiWire("gemini", "/v1beta/models/test-model:streamGenerateContent?alt=sse"),
}


def wire_for_path(path: str) -> ProviderWire | None:
    """The provider whose endpoint ``path`` is (by its ending, whatever the base URL), or None."""
    endpoint = path.split("?", 1)[0]
    if endpoint.endswith("/chat/completions"):
        return PROVIDERS["openai"]
    if endpoint.endswith("/messages"):
        return PROVIDERS["anthropic"]
    if endpoint.endswith(":streamGenerateContent"):
        return PROVIDERS["gemini"]
    return None


def check_request(path: str, body: Any) -> tuple[int, bytes] | None:
    """The test server's check of every request: ``(400, the provider's error body)`` when malformed, else None."""
    wire = wire_for_path(path)
    problem = wire.problem(body) if wire is not None else None
    if wire is None or problem is None:
        return None
    return 400, wire.invalid_request_body(problem)


def base_url_for(kind: str, server_url: str) -> str:
    """OpenAI-compatible base URLs end in /v1; the others are the bare host."""
    return f"{server_url}/v1" if kind == "openai" else server_url
