"""OpenAI-compatible chat completions, streamed.

One wire format spoken by OpenAI and by most servers and routers: vLLM,
SGLang, TGI, llama.cpp server, Ollama, OpenRouter, DeepSeek, xAI, Mistral,
Together, Groq. The base URL is the one ending in ``/v1`` (the adapter
appends ``/chat/completions``). Each event's data is a
``chat.completion.chunk`` whose ``choices[0].delta.content`` holds new text;
``finish_reason`` arrives on the last choice chunk; with
``stream_options.include_usage`` a final chunk with empty ``choices`` carries
``usage``; ``data: [DONE]`` ends the stream, though some servers just close it.
An ``{"error": ...}`` object in a data line is a failure reported mid-stream.

A user message with images is sent as content parts: a ``text`` part (when the
text is not empty), then one ``image_url`` part per image whose ``url`` is a
``data:image/png;base64,...`` URL. Messages without images stay plain strings,
which every compatible server takes; whether a given server's model reads
images is the admin's call (the model's "accepts images" box).

Options (``AdapterConfig.options``):

- ``include_usage`` (default true): ask for the usage chunk; turn it off for
  servers that reject ``stream_options``.
- ``max_tokens_field`` (default ``"max_tokens"``): OpenAI's reasoning models
  want ``"max_completion_tokens"``.
- ``extra_body``: a JSON object merged into the request (e.g. OpenRouter's
  ``provider`` routing, vLLM's ``top_k``). Not for secrets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from .conversation import FinishReason, GenerationSettings, Message, StreamMeta
from .errors import BadRequest, ConfigurationError, ContentRefused, ProviderError, RateLimited
from .httpstream import HTTPAdapter, provider_message, redact

FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
}


class OpenAICompatAdapter(HTTPAdapter):
    """Any server speaking OpenAI's ``/v1/chat/completions`` with ``stream: true``."""

    kind = "openai"
    label = "OpenAI-compatible chat completions"
    provider = "the OpenAI-compatible server"
    requires_key = False  # local servers (vLLM, Ollama) often need none
    requires_base_url = True
    supports_seed = True
    supports_images = True

    def request_body(self, messages: Sequence[Message], settings: GenerationSettings) -> dict[str, Any]:
        """The JSON body of the request."""
        options = self.config.options
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [chat_message(m) for m in messages],
            "stream": True,
            str(options.get("max_tokens_field", "max_tokens")): settings.max_tokens,
        }
        if options.get("include_usage", True):
            body["stream_options"] = {"include_usage": True}
        optional = {"temperature": settings.temperature, "top_p": settings.top_p, "seed": settings.seed}
        body.update({k: v for k, v in optional.items() if v is not None})
        if settings.stop:
            body["stop"] = list(settings.stop)
        extra = options.get("extra_body") or {}
        if not isinstance(extra, Mapping):
            raise ConfigurationError("the option extra_body must be a JSON object")
        body.update(extra)
        return body

    def request_headers(self) -> tuple[dict[str, str], str | None]:
        """Headers, and the key they carry (to redact from messages); a key is sent only if one is named."""
        key = self.config.api_key(required=bool(self.config.key_env or self.config.key_file))
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers, key

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        url = f"{self.base_url()}/chat/completions"
        headers, key = self.request_headers()
        emitted = False
        async with self.open_stream(url, headers=headers, body=self.request_body(messages, settings), secret=key) as r:
            async for _, chunk in self.json_events(r):
                if "error" in chunk:
                    raise stream_error(chunk["error"], self.provider, key)
                read_usage(chunk.get("usage"), meta)
                for choice in chunk.get("choices") or ():
                    if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta") or {}
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(text, str) and text:
                        emitted = True
                        yield text
                    reason = choice.get("finish_reason")
                    if reason:
                        meta.finish_reason = FINISH_REASONS.get(str(reason), "stop")
        if meta.finish_reason == "content_filter" and not emitted:
            raise ContentRefused(f"{self.provider} filtered the answer")


def chat_message(message: Message) -> dict[str, Any]:
    """One message as the API takes it: plain text, or text and ``image_url`` parts when it carries images."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    parts += [{"type": "image_url", "image_url": {"url": image.data_url()}} for image in message.images]
    return {"role": message.role, "content": parts}


def read_usage(usage: Any, meta: StreamMeta) -> None:
    """Copy ``prompt_tokens``/``completion_tokens`` into ``meta`` (``usage`` is null on most chunks)."""
    if not isinstance(usage, dict):
        return
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int):
        meta.input_tokens = prompt
    if isinstance(completion, int):
        meta.output_tokens = completion


def stream_error(error: Any, provider: str, key: str | None) -> Exception:
    """The adapter error for an ``{"error": ...}`` object sent inside the stream."""
    message = redact(provider_message({"error": error}), key) or "unknown error"
    code = error.get("code") if isinstance(error, dict) else None
    text = f"{provider} reported an error mid-stream: {message}"
    if code in (429, "429", "rate_limit_exceeded"):
        return RateLimited(text)
    if code in (400, "400", "invalid_request_error"):
        return BadRequest(text)
    return ProviderError(text)
