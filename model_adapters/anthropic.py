"""Anthropic's Messages API, streamed.

``POST {base}/v1/messages`` with ``stream: true`` answers with named
server-sent events: ``message_start`` (the message, with input token usage),
then per content block ``content_block_start``, ``content_block_delta``
(``text_delta`` carries text; thinking and tool deltas are skipped) and
``content_block_stop``, then ``message_delta`` (``stop_reason`` and cumulative
output usage) and ``message_stop``. ``ping`` events may come at any time and
unknown events are ignored, as Anthropic's versioning policy asks. An
``error`` event (e.g. ``overloaded_error``, HTTP 529's twin) can arrive
mid-stream; it becomes a retryable ProviderError, retried only if no text
was shown yet.

System messages go to the top-level ``system`` field; the key goes in
``x-api-key``. A user message with images becomes a list of content blocks:
one ``image`` block per image (``source``: ``type: base64``, ``media_type``,
``data``), then a ``text`` block unless the text is empty (images before text,
as Anthropic recommends). Options: ``anthropic_version`` (default ``2023-06-01``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from .conversation import FinishReason, GenerationSettings, Message, StreamMeta
from .errors import AdapterError, AuthenticationFailed, BadRequest, ContentRefused, ProviderError, RateLimited
from .httpstream import HTTPAdapter, redact

API_VERSION = "2023-06-01"

STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}

ERROR_TYPES: Mapping[str, type[AdapterError]] = {
    "overloaded_error": ProviderError,
    "api_error": ProviderError,
    "rate_limit_error": RateLimited,
    "authentication_error": AuthenticationFailed,
    "permission_error": AuthenticationFailed,
    "invalid_request_error": BadRequest,
    "request_too_large": BadRequest,
}


class AnthropicAdapter(HTTPAdapter):
    """Claude models through the Messages API."""

    kind = "anthropic"
    label = "Anthropic Messages API"
    provider = "Anthropic"
    default_base_url = "https://api.anthropic.com"
    supports_images = True

    def request_body(self, messages: Sequence[Message], settings: GenerationSettings) -> dict[str, Any]:
        """The JSON body: system text apart, the other messages in order."""
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": settings.max_tokens,
            "messages": [chat_message(m) for m in messages if m.role != "system"],
            "stream": True,
        }
        if system:
            body["system"] = system
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        if settings.top_p is not None:
            body["top_p"] = settings.top_p
        if settings.stop:
            body["stop_sequences"] = list(settings.stop)
        return body

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        key = self.config.api_key()
        headers = {
            "x-api-key": key or "",
            "anthropic-version": str(self.config.options.get("anthropic_version", API_VERSION)),
            "Accept": "text/event-stream",
        }
        base = self.base_url()
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        emitted = False
        async with self.open_stream(url, headers=headers, body=self.request_body(messages, settings), secret=key) as r:
            async for name, data in self.json_events(r):
                kind = data.get("type", name)
                if kind == "error":
                    raise stream_error(data.get("error"), key)
                if kind == "message_start":
                    read_usage((data.get("message") or {}).get("usage"), meta)
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    text = delta.get("text") if delta.get("type") == "text_delta" else None
                    if isinstance(text, str) and text:
                        emitted = True
                        yield text
                elif kind == "message_delta":
                    read_usage(data.get("usage"), meta)
                    reason = (data.get("delta") or {}).get("stop_reason")
                    if reason:
                        meta.finish_reason = STOP_REASONS.get(str(reason), "stop")
                elif kind == "message_stop":
                    break
        if meta.finish_reason == "content_filter" and not emitted:
            raise ContentRefused("Anthropic declined to answer")


def chat_message(message: Message) -> dict[str, Any]:
    """One message: a plain string, or image blocks then a text block when it carries images."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.base64()}}
        for image in message.images
    ]
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    return {"role": message.role, "content": blocks}


def read_usage(usage: Any, meta: StreamMeta) -> None:
    """Copy Anthropic usage into ``meta``; input counts include cached prompt tokens."""
    if not isinstance(usage, dict):
        return
    parts = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    if isinstance(parts[0], int):
        meta.input_tokens = sum(p for p in parts if isinstance(p, int))
    if isinstance(usage.get("output_tokens"), int):
        meta.output_tokens = usage["output_tokens"]


def stream_error(error: Any, key: str | None) -> AdapterError:
    """The adapter error for an ``error`` event."""
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type", "api_error"))
    message = redact(" ".join(str(error.get("message", "")).split())[:300], key)
    text = f"Anthropic reported {kind} mid-stream" + (f": {message}" if message else "")
    cls = ERROR_TYPES.get(kind, ProviderError)
    if cls is AuthenticationFailed:
        return AuthenticationFailed(f"Anthropic reported {kind} mid-stream")
    return cls(text)
