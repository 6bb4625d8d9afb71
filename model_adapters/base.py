"""The adapter contract shared by every model.

An adapter turns a conversation and generation settings into a stream of text
chunks. Provider modules implement only :meth:`ModelAdapter._generate`, an
async generator speaking their wire format; everything every provider needs
(timeouts, retries before the first chunk, timing, token counting when the
provider reports none, cancellation) lives once, in :class:`StreamingResponse`.

Usage::

    adapter = registry.adapter_for("openai", AdapterConfig(model="gpt-4o", ...))
    response = adapter.stream([Message("user", "Hello")], GenerationSettings(max_tokens=64))
    async for text in response:
        ...
    response.result.output_tokens

Closing the response early (``await response.aclose()``, or leaving the
``async for`` and letting ``async with`` close it) closes the upstream request.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .errors import AdapterError, AdapterTimeout, BadRequest, ConfigurationError, ProviderError, RateLimited

if TYPE_CHECKING:
    import httpx

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
FinishReason = Literal["stop", "length", "content_filter", "cancelled", "error"]

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Message:
    """One message of a conversation."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError("message content must be a string")


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings; ``None`` means the provider's default."""

    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise ValueError("max_tokens must be a positive integer")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ValueError("temperature must be between 0 and 2")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError("stop must be a list of non-empty strings")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GenerationSettings:
        """Build settings from JSON-like data, rejecting unknown keys with a clear message."""
        known = {"max_tokens", "temperature", "top_p", "stop", "seed"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown generation setting(s): {', '.join(unknown)}")
        values = dict(data)
        if "stop" in values:
            stop = values["stop"]
            values["stop"] = (stop,) if isinstance(stop, str) else tuple(stop or ())
        for key in ("temperature", "top_p"):
            if values.get(key) is not None:
                try:
                    values[key] = float(values[key])
                except (TypeError, ValueError):
                    raise ValueError(f"{key} must be a number") from None
        return cls(**values)

    def merged(self, overrides: Mapping[str, Any]) -> GenerationSettings:
        base = {k: getattr(self, k) for k in ("max_tokens", "temperature", "top_p", "stop", "seed")}
        base.update(overrides)
        return GenerationSettings.from_mapping(base)


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds: connecting, waiting for the first chunk, between chunks, overall."""

    connect: float = 10.0
    first_token: float = 60.0
    stall: float = 30.0
    total: float = 300.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Timeouts:
        unknown = sorted(set(data) - {"connect", "first_token", "stall", "total"})
        if unknown:
            raise ValueError(f"unknown timeout(s): {', '.join(unknown)}")
        values: dict[str, float] = {}
        for key, value in data.items():
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"timeout {key} must be a number of seconds") from None
            if values[key] <= 0:
                raise ValueError(f"timeout {key} must be positive")
        return cls(**values)


@dataclass(frozen=True)
class AdapterConfig:
    """Everything an adapter needs to reach one model, passed in explicitly.

    ``key_env`` and ``key_file`` name where the secret lives; the secret itself
    is read at call time by :meth:`api_key` and never stored here.
    """

    model: str
    base_url: str = ""
    key_env: str = ""
    key_file: str = ""
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_retries: int = 2

    def api_key(self, *, required: bool = True) -> str | None:
        """Read the key from the named environment variable or secret file."""
        if self.key_env:
            value = os.environ.get(self.key_env, "").strip()
            if value:
                return value
            if required:
                raise ConfigurationError(f"the environment variable {self.key_env} is not set")
        if self.key_file:
            try:
                value = Path(self.key_file).read_text().strip()
            except OSError as exc:
                raise ConfigurationError(f"the secret file {self.key_file} cannot be read ({exc.strerror})") from None
            if value:
                return value
            if required:
                raise ConfigurationError(f"the secret file {self.key_file} is empty")
        if required and not (self.key_env or self.key_file):
            raise ConfigurationError("no key environment variable or secret file is configured")
        return None


@dataclass
class StreamMeta:
    """What a provider reports about a stream; ``_generate`` fills it in as it learns."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class StreamResult:
    """The outcome of one finished stream."""

    text: str
    input_tokens: int
    output_tokens: int
    time_to_first_token: float | None
    latency: float
    finish_reason: FinishReason
    tokens_counted: bool = False  # True when the counts are our estimate, not the provider's
    attempts: int = 1


_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_tokens(text: str) -> int:
    """Estimate a token count (words and punctuation marks) for providers that report none."""
    return len(_TOKEN_RE.findall(text))


def count_message_tokens(messages: Iterable[Message]) -> int:
    return sum(count_tokens(m.content) + 3 for m in messages)


def backoff_delay(attempt: int, retry_after: float | None, *, base: float = 0.5, cap: float = 20.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): Retry-After if given, else jittered exponential."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return min(cap, base * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


class ModelAdapter(ABC):
    """A family of models reached the same way.

    Subclasses set the class-level flags and implement :meth:`_generate`.
    ``http_client`` or ``transport`` may be injected (tests use a local server
    or ``httpx.MockTransport``); otherwise a client is made per stream.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    requires_key: ClassVar[bool] = True
    requires_base_url: ClassVar[bool] = False
    supports_seed: ClassVar[bool] = False

    def __init__(
        self,
        config: AdapterConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self._http_client = http_client
        self._transport = transport
        self.sleep = sleep

    def stream(
        self, messages: Sequence[Message], settings: GenerationSettings | None = None
    ) -> StreamingResponse:
        """Start streaming an answer; iterate the result for text chunks."""
        if not messages:
            raise BadRequest("the conversation is empty")
        return StreamingResponse(self, list(messages), settings or GenerationSettings())

    @abstractmethod
    def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        """Yield text chunks from the provider, filling ``meta`` with what it reports."""

    @asynccontextmanager
    async def http_client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The injected client, or a fresh one configured with this model's timeouts."""
        if self._http_client is not None:
            yield self._http_client
            return
        import httpx

        t = self.config.timeouts
        timeout = httpx.Timeout(connect=t.connect, read=max(t.first_token, t.stall), write=t.connect, pool=t.connect)
        async with httpx.AsyncClient(timeout=timeout, transport=self._transport) as client:
            yield client


class StreamingResponse:
    """An answer being streamed: async-iterate for chunks, then read :attr:`result`."""

    def __init__(self, adapter: ModelAdapter, messages: list[Message], settings: GenerationSettings) -> None:
        self.adapter = adapter
        self.messages = messages
        self.settings = settings
        self.result: StreamResult | None = None
        self._chunks: list[str] = []
        self._iterator: AsyncIterator[str] | None = None
        self._generator: Any = None
        self._meta = StreamMeta()
        self._started = 0.0
        self._first_at: float | None = None
        self._attempts = 0

    def __aiter__(self) -> AsyncIterator[str]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    async def __aenter__(self) -> StreamingResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop early: close the upstream request and record a cancelled result."""
        if self._generator is not None:
            await self._generator.aclose()
            self._generator = None
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]
        if self.result is None and self._started:
            self._finish("cancelled")

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    async def _run(self) -> AsyncIterator[str]:
        timeouts = self.adapter.config.timeouts
        self._started = time.monotonic()
        deadline = self._started + timeouts.total
        first = await self._first_chunk(deadline)
        if first is None:
            self._finish()
            return
        self._first_at = time.monotonic()
        self._chunks.append(first)
        yield first
        while True:
            chunk = await self._next_nonempty(min(timeouts.stall, deadline - time.monotonic()), "stall")
            if chunk is None:
                break
            self._chunks.append(chunk)
            yield chunk
        self._finish()

    async def _first_chunk(self, deadline: float) -> str | None:
        """Open the stream and wait for text, retrying retryable failures before any text is shown."""
        config = self.adapter.config
        while True:
            self._attempts += 1
            self._meta = StreamMeta()
            self._generator = self.adapter._generate(self.messages, self.settings, self._meta)
            try:
                budget = min(config.timeouts.first_token, deadline - time.monotonic())
                return await self._next_nonempty(budget, "first_token")
            except AdapterError as exc:
                await self._close_generator()
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
                delay = backoff_delay(self._attempts, retry_after)
                if not exc.retryable or self._attempts > config.max_retries:
                    raise
                if time.monotonic() + delay >= deadline:
                    raise
                await self.adapter.sleep(delay)

    async def _next_nonempty(self, budget: float, which: str) -> str | None:
        if budget <= 0:
            await self._close_generator()
            raise AdapterTimeout(f"the answer did not finish within {self.adapter.config.timeouts.total:g} s")
        end = time.monotonic() + budget
        while True:
            try:
                chunk = await asyncio.wait_for(self._generator.__anext__(), max(end - time.monotonic(), 0.0))
            except StopAsyncIteration:
                self._generator = None
                return None
            except (asyncio.TimeoutError, TimeoutError):
                await self._close_generator()
                if which == "first_token":
                    raise AdapterTimeout(f"no text arrived within {budget:g} s") from None
                raise AdapterTimeout(f"the stream stalled for {budget:g} s") from None
            except AdapterError:
                raise
            except Exception as exc:
                raise _translate_transport_error(exc) from exc
            if chunk:
                return chunk

    async def _close_generator(self) -> None:
        if self._generator is not None:
            generator, self._generator = self._generator, None
            try:
                await generator.aclose()
            except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
                pass

    def _finish(self, reason: FinishReason | None = None) -> None:
        text = self.text
        meta = self._meta
        counted = meta.output_tokens is None or meta.input_tokens is None
        self.result = StreamResult(
            text=text,
            input_tokens=meta.input_tokens if meta.input_tokens is not None else count_message_tokens(self.messages),
            output_tokens=meta.output_tokens if meta.output_tokens is not None else count_tokens(text),
            time_to_first_token=(self._first_at - self._started) if self._first_at is not None else None,
            latency=time.monotonic() - self._started,
            finish_reason=reason or meta.finish_reason or "stop",
            tokens_counted=counted,
            attempts=self._attempts,
        )


def _translate_transport_error(exc: Exception) -> AdapterError:
    """Map an unexpected transport exception to the adapter error tree."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a core dependency
        return ProviderError(f"the stream failed: {type(exc).__name__}")
    if isinstance(exc, httpx.TimeoutException):
        return AdapterTimeout(f"the connection timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return ProviderError(f"the connection failed ({type(exc).__name__})")
    return ProviderError(f"the stream failed unexpectedly ({type(exc).__name__})", retryable=False)


async def collect(response: StreamingResponse) -> StreamResult:
    """Consume a whole stream and return its result."""
    async for _ in response:
        pass
    assert response.result is not None
    return response.result
