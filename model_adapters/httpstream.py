"""Shared plumbing of the HTTP providers: a streaming POST, error statuses, JSON events.

Every HTTP adapter opens its request with :meth:`HTTPAdapter.open_stream`, so
status codes map to the error tree in one place::

    401, 403                  AuthenticationFailed   (the provider's text is dropped: it may echo the key)
    429                       RateLimited            retry_after from Retry-After, retry-after-ms or
                                                     a google.rpc.RetryInfo body
    408                       AdapterTimeout
    400, 404, 409, 413, 422   BadRequest             ContentRefused when the body says content policy
    500-599, 529              ProviderError          retryable
    anything else >= 300      ProviderError          not retryable

Exception messages carry the status and a short, key-redacted excerpt of the
provider's error message; never a URL, a header or the raw body.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from .base import ModelAdapter
from .errors import (
    AdapterError,
    AdapterTimeout,
    AuthenticationFailed,
    BadRequest,
    ConfigurationError,
    ContentRefused,
    ProviderError,
    RateLimited,
)
from .sse import ServerSentEvent, iter_events

if TYPE_CHECKING:
    import httpx

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error body worth reading
MESSAGE_EXCERPT = 300  # characters of a provider's error message kept in ours
_REFUSAL_CODE = re.compile(r"content[_ ]?(policy|filter)|moderation", re.I)  # in error code/type fields
_REFUSAL_MESSAGE = re.compile(r"\bflagged\b|content (management )?policy", re.I)
_GOOGLE_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class HTTPAdapter(ModelAdapter):
    """Base of adapters that POST JSON and read server-sent events back."""

    provider: ClassVar[str] = "the provider"
    default_base_url: ClassVar[str] = ""

    def base_url(self) -> str:
        """The configured base URL without a trailing slash, or the provider's default."""
        url = (self.config.base_url or self.default_base_url).strip().rstrip("/")
        if not url:
            raise ConfigurationError(f"{self.label} needs a base URL")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError("the base URL must start with http:// or https://")
        return url

    @asynccontextmanager
    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: Mapping[str, Any], secret: str | None = None
    ) -> AsyncIterator[httpx.Response]:
        """POST ``body`` and yield the streaming response, or raise the error its status means."""
        async with (
            self.http_client() as client,
            client.stream("POST", url, headers=dict(headers), json=body) as response,
        ):
            if response.status_code >= 300:
                raw = await read_limited(response, ERROR_BODY_LIMIT)
                raise error_for_response(
                    response.status_code, response.headers, raw, provider=self.provider, secret=secret
                )
            yield response

    async def json_events(self, response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(event name, decoded JSON data)``; ``[DONE]`` ends the stream.

        A body with no event at all (a server that ignored ``stream: true`` and
        sent plain JSON, or an empty body) is a ProviderError, not an empty answer.
        """
        received = False
        async for event in iter_events(response.aiter_lines()):
            received = True
            if event.data.strip() == "[DONE]":
                return
            yield event.event, decode_event(event, self.provider)
        if not received:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise ProviderError(f"{self.provider} answered without a single event ({kind})")


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """Read at most ``limit`` bytes of a response body."""
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


def decode_event(event: ServerSentEvent, provider: str) -> dict[str, Any]:
    """The JSON object an event carries; a ProviderError when it is not one."""
    try:
        data = json.loads(event.data)
    except ValueError:
        raise ProviderError(f"{provider} sent a malformed event (not JSON)") from None
    if not isinstance(data, dict):
        raise ProviderError(f"{provider} sent a malformed event (not a JSON object)")
    return data


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, *, provider: str, secret: str | None = None
) -> AdapterError:
    """The adapter error an HTTP error status means, with a safe excerpt of the provider's message."""
    payload = _json_or_none(body)
    detail = redact(provider_message(payload), secret)
    where = f"{provider} answered HTTP {status}"
    text = f"{where}: {detail}" if detail else where
    if status in (400, 403, 422) and is_refusal(payload):
        return ContentRefused(text)
    if status in (401, 403) or (status == 400 and "API_KEY_INVALID" in body.decode("utf-8", "replace")):
        return AuthenticationFailed(f"{where}: the key was rejected or lacks access")
    if status == 429:
        return RateLimited(text, retry_after=retry_after_seconds(headers, payload))
    if status == 408:
        return AdapterTimeout(text)
    if status == 404:
        return BadRequest(f"{text} (check the base URL and the model id)")
    if status in (400, 409, 413, 422):
        return BadRequest(text)
    if 500 <= status < 600 or status == 529:
        return ProviderError(text, retryable=status not in (501, 505))
    return ProviderError(text, retryable=False)


def is_refusal(payload: Any) -> bool:
    """Whether an error body says the content itself was refused.

    Judged by the code fields first (OpenAI's ``content_policy_violation``,
    Azure's ``content_filter``), then the message (OpenRouter's moderation 403).
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        codes = [error.get(k) for k in ("code", "type", "status")]
        if any(isinstance(c, str) and _REFUSAL_CODE.search(c) for c in codes):
            return True
    return bool(_REFUSAL_MESSAGE.search(provider_message(payload)))


def provider_message(payload: Any) -> str:
    """The human message inside an error body, whichever common shape it has."""
    if isinstance(payload, list) and payload:
        payload = payload[0]  # Gemini sometimes wraps the error in a list
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error", payload)
    if isinstance(error, str):
        message: Any = error
    elif isinstance(error, dict):
        message = error.get("message") or error.get("detail") or ""
    else:
        message = ""
    if not message and isinstance(payload.get("detail"), str):
        message = payload["detail"]
    text = " ".join(str(message).split())
    return text[:MESSAGE_EXCERPT] + ("…" if len(text) > MESSAGE_EXCERPT else "")


def redact(text: str, secret: str | None) -> str:
    """``text`` with the secret, and anything shaped like a bearer key, blanked out."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return re.sub(r"\b(sk|key|AIza)[-_A-Za-z0-9]{12,}", "[redacted]", text)


def retry_after_seconds(headers: Mapping[str, str], payload: Any, *, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait, from headers or a Google RetryInfo detail."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return _google_retry_delay(payload)
            return max(parsed.timestamp() - (now if now is not None else time.time()), 0.0)
    return _google_retry_delay(payload)


def _google_retry_delay(payload: Any) -> float | None:
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _GOOGLE_DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
