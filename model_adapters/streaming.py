"""What every stream needs, written once: deadlines, retries, timing and counting.

:class:`StreamingResponse` drives an adapter's ``_generate`` async generator:

- the first chunk must arrive within ``Timeouts.first_token``, later chunks
  within ``Timeouts.stall`` of each other, and everything within ``Timeouts.total``;
- a retryable failure before the first chunk is retried (at most
  ``AdapterConfig.max_retries`` times) after a jittered exponential backoff, or
  after exactly the provider's Retry-After when it sent one; a Retry-After
  longer than :data:`MAX_RETRY_WAIT` is not waited for but reported;
- nothing is retried once text has been shown;
- closing the response closes the provider's generator, which closes the
  upstream HTTP request (or stops a local generation thread) at once.

The generator is driven in the caller's task (``asyncio.timeout``, not
``wait_for``), so the provider's ``async with client.stream(...)`` is entered
and left in one task and a cancelled caller cancels the upstream request too.
Close a response from the task that iterates it; to stop it from elsewhere,
cancel that task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .conversation import FinishReason, GenerationSettings, Message, StreamMeta, StreamResult, Timeouts
from .errors import AdapterError, AdapterTimeout, ProviderError, RateLimited
from .tokens import count_message_tokens, count_tokens

if TYPE_CHECKING:
    from .base import ModelAdapter

logger = logging.getLogger(__name__)

MAX_RETRY_WAIT = 20.0  # seconds; a voter will not wait longer than this for a retry


def backoff_delay(attempt: int, retry_after: float | None, *, base: float = 0.5, cap: float = MAX_RETRY_WAIT) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): Retry-After if given, else jittered exponential."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return min(cap, base * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


class StreamingResponse:
    """An answer being streamed: async-iterate for chunks, then read :attr:`result`.

    ``result`` is set when the stream ends, when it is closed early
    (``finish_reason="cancelled"``) and when it fails (``finish_reason="error"``,
    with the partial text; the error is still raised).
    """

    def __init__(self, adapter: ModelAdapter, messages: list[Message], settings: GenerationSettings) -> None:
        self.adapter = adapter
        self.messages = messages
        self.settings = settings
        self.result: StreamResult | None = None
        self._chunks: list[str] = []
        self._iterator: AsyncIterator[str] | None = None
        self._generator: AsyncIterator[str] | None = None
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
        await self._close_generator()
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]
        if self.result is None and self._started:
            self._finish("cancelled")

    @property
    def text(self) -> str:
        """The text streamed so far."""
        return "".join(self._chunks)

    @property
    def timeouts(self) -> Timeouts:
        """The deadlines of this stream's model."""
        return self.adapter.config.timeouts

    async def _run(self) -> AsyncIterator[str]:
        self._started = time.monotonic()
        deadline = self._started + self.timeouts.total
        try:
            first = await self._first_chunk(deadline)
            if first is not None:
                self._first_at = time.monotonic()
                self._chunks.append(first)
                yield first
                while (chunk := await self._next_nonempty(deadline, self.timeouts.stall, "stall")) is not None:
                    self._chunks.append(chunk)
                    yield chunk
        except AdapterError:
            self._finish("error")
            raise
        finally:
            # However this generator ends (closed, cancelled, collected), the upstream goes with it.
            await self._close_generator()
        self._finish()

    async def _first_chunk(self, deadline: float) -> str | None:
        """Open the stream and wait for text, retrying retryable failures before any text is shown."""
        config = self.adapter.config
        while True:
            self._attempts += 1
            self._meta = StreamMeta()
            self._generator = self.adapter._generate(self.messages, self.settings, self._meta)
            try:
                return await self._next_nonempty(deadline, config.timeouts.first_token, "first_token")
            except AdapterError as exc:
                await self._close_generator()
                if not exc.retryable or self._attempts > config.max_retries:
                    raise
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
                if retry_after is not None and retry_after > MAX_RETRY_WAIT:
                    raise
                delay = backoff_delay(self._attempts, retry_after)
                if time.monotonic() + delay >= deadline:
                    raise
                # Error messages carry no secrets (see errors.py), so they may be logged.
                logger.info("%r: attempt %d failed (%s: %s); retrying in %.1f s",
                            self.adapter, self._attempts, type(exc).__name__, exc, delay)
                await self.adapter.sleep(delay)

    async def _next_nonempty(self, deadline: float, budget: float, which: str) -> str | None:
        """The next non-empty chunk, or ``None`` at the end; raise AdapterTimeout past ``budget``."""
        budget = min(budget, deadline - time.monotonic())
        if budget <= 0:
            await self._close_generator()
            raise AdapterTimeout(f"the answer did not finish within {self.timeouts.total:g} s")
        generator = self._generator
        assert generator is not None
        try:
            async with asyncio.timeout(budget):
                while True:
                    chunk = await generator.__anext__()
                    if chunk:
                        return chunk
        except StopAsyncIteration:
            self._generator = None
            return None
        except TimeoutError:
            await self._close_generator()
            if time.monotonic() >= deadline:
                raise AdapterTimeout(f"the answer did not finish within {self.timeouts.total:g} s") from None
            if which == "first_token":
                raise AdapterTimeout(f"no text arrived within {budget:g} s") from None
            raise AdapterTimeout(f"the stream stalled for {budget:g} s") from None
        except AdapterError:
            self._generator = None
            raise
        except Exception as exc:
            self._generator = None
            raise translate_transport_error(exc, self.timeouts) from exc

    async def _close_generator(self) -> None:
        if self._generator is not None:
            generator, self._generator = self._generator, None
            # closing a broken stream must not mask the error that broke it
            with contextlib.suppress(Exception):
                await generator.aclose()  # type: ignore[attr-defined]

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
            finish_reason=reason or meta.finish_reason or "incomplete",
            tokens_counted=counted,
            attempts=self._attempts,
        )


def translate_transport_error(exc: Exception, timeouts: Timeouts) -> AdapterError:
    """Map an unexpected transport exception to the adapter error tree.

    The message names the exception class only: httpx messages can carry URLs.
    """
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return AdapterTimeout(f"could not connect within {timeouts.connect:g} s")
    if isinstance(exc, httpx.TimeoutException):
        return AdapterTimeout(f"the connection timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return ProviderError("could not connect to the provider (ConnectError)")
    if isinstance(exc, httpx.TransportError):
        return ProviderError(f"the connection failed ({type(exc).__name__})")
    return ProviderError(f"the stream failed unexpectedly ({type(exc).__name__})", retryable=False)


async def collect(response: StreamingResponse) -> StreamResult:
    """Consume a whole stream and return its result."""
    async for _ in response:
        pass
    assert response.result is not None
    return response.result
