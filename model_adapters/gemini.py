"""Google Gemini's ``streamGenerateContent``, as server-sent events.

``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`` with the
key in the ``x-goog-api-key`` header (never in the URL, where it would reach
logs). Each event's data is a ``GenerateContentResponse``: text in
``candidates[0].content.parts[].text`` (parts marked ``thought`` are
skipped), ``finishReason`` on the last candidate chunk, ``usageMetadata``
(``promptTokenCount``, ``candidatesTokenCount`` plus ``thoughtsTokenCount``)
usually on every chunk, the latest winning. There is no ``[DONE]``: the stream
ends when the server closes it. A prompt the service blocks comes back as a
response with ``promptFeedback.blockReason`` and no candidates; an answer it
stops for safety ends with ``finishReason: SAFETY`` (or a sibling reason);
both become ContentRefused when no text was shown, ``content_filter`` after.

System messages go to ``systemInstruction``; the assistant role is ``model``.
A user message with images has one ``inline_data`` part per image
(``mime_type`` and base64 ``data``) before its ``text`` part, which is left out
when the text is empty (Gemini rejects empty text parts).
Options: ``api_version`` (default ``v1beta``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import quote

from .conversation import FinishReason, GenerationSettings, Message, StreamMeta
from .errors import ContentRefused, ProviderError
from .httpstream import HTTPAdapter, provider_message, redact

REFUSAL_REASONS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})


class GeminiAdapter(HTTPAdapter):
    """Gemini models through the Generative Language API."""

    kind = "gemini"
    label = "Google Gemini"
    provider = "Gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    supports_seed = True
    supports_images = True

    def request_body(self, messages: Sequence[Message], settings: GenerationSettings) -> dict[str, Any]:
        """The JSON body: ``contents`` with user/model roles, ``systemInstruction``, ``generationConfig``."""
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        config: dict[str, Any] = {"maxOutputTokens": settings.max_tokens}
        optional = {"temperature": settings.temperature, "topP": settings.top_p, "seed": settings.seed}
        config.update({k: v for k, v in optional.items() if v is not None})
        if settings.stop:
            config["stopSequences"] = list(settings.stop)
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": message_parts(m)}
                for m in messages
                if m.role != "system"
            ],
            "generationConfig": config,
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return body

    def url(self) -> str:
        """The streaming endpoint of the configured model."""
        version = str(self.config.options.get("api_version", "v1beta"))
        base = self.base_url()
        if base.rsplit("/", 1)[-1] in ("v1", "v1beta", "v1alpha"):
            base, version = base.rsplit("/", 1)  # a base URL given with its version wins
        model = self.config.model.removeprefix("models/")
        return f"{base}/{version}/models/{quote(model, safe='-._')}:streamGenerateContent?alt=sse"

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        key = self.config.api_key()
        headers = {"x-goog-api-key": key or "", "Accept": "text/event-stream"}
        emitted = False
        body = self.request_body(messages, settings)
        async with self.open_stream(self.url(), headers=headers, body=body, secret=key) as r:
            async for _, data in self.json_events(r):
                if "error" in data:
                    message = redact(provider_message(data), key) or "unknown error"
                    raise ProviderError(f"Gemini reported an error mid-stream: {message}")
                read_usage(data.get("usageMetadata"), meta)
                blocked = (data.get("promptFeedback") or {}).get("blockReason")
                if blocked and not data.get("candidates"):
                    raise ContentRefused(f"Gemini blocked the prompt ({blocked})")
                candidates = data.get("candidates") or [{}]
                candidate = candidates[0] if isinstance(candidates[0], dict) else {}
                for part in (candidate.get("content") or {}).get("parts") or ():
                    text = part.get("text") if isinstance(part, dict) and not part.get("thought") else None
                    if isinstance(text, str) and text:
                        emitted = True
                        yield text
                reason = candidate.get("finishReason")
                if reason:
                    meta.finish_reason = finish_reason(str(reason))
        if meta.finish_reason == "content_filter" and not emitted:
            raise ContentRefused("Gemini stopped the answer for safety")


def message_parts(message: Message) -> list[dict[str, Any]]:
    """A message's parts: its images as ``inline_data``, then its text (always, for a message without images)."""
    if not message.images:
        return [{"text": message.content}]
    parts: list[dict[str, Any]] = [
        {"inline_data": {"mime_type": image.media_type, "data": image.base64()}} for image in message.images
    ]
    if message.content:
        parts.append({"text": message.content})
    return parts


def finish_reason(reason: str) -> FinishReason:
    """Map Gemini's ``finishReason`` to the contract's finish reasons."""
    if reason == "MAX_TOKENS":
        return "length"
    if reason in REFUSAL_REASONS:
        return "content_filter"
    return "stop"


def read_usage(usage: Any, meta: StreamMeta) -> None:
    """Copy ``usageMetadata`` into ``meta``; thinking tokens count as output."""
    if not isinstance(usage, dict):
        return
    if isinstance(usage.get("promptTokenCount"), int):
        meta.input_tokens = usage["promptTokenCount"]
    answer, thoughts = usage.get("candidatesTokenCount"), usage.get("thoughtsTokenCount")
    if isinstance(answer, int) or isinstance(thoughts, int):
        meta.output_tokens = (answer if isinstance(answer, int) else 0) + (thoughts if isinstance(thoughts, int) else 0)
