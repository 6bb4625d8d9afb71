"""The adapter contract shared by every model.

An adapter turns a conversation and generation settings into a stream of text
chunks. Provider modules implement only :meth:`ModelAdapter._generate`, an
async generator speaking their wire format; everything every provider needs
(timeouts, retries before the first chunk, timing, token counting when the
provider reports none, cancellation) lives once, in
:class:`~model_adapters.streaming.StreamingResponse`.

Usage::

    adapter = registry.adapter_for("openai", AdapterConfig(model="gpt-4o", ...))
    response = adapter.stream([Message("user", "Hello")], GenerationSettings(max_tokens=64))
    async with response:
        async for text in response:
            ...
    response.result.output_tokens

Closing the response early (``await response.aclose()``, or leaving the
``async with`` block) closes the upstream request. The data types live in
:mod:`.conversation`, the driver in :mod:`.streaming`; both are re-exported here.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, ClassVar

from .conversation import (
    IMAGE_MEDIA_TYPES,
    ROLES,
    AdapterConfig,
    FinishReason,
    GenerationSettings,
    Image,
    Message,
    Role,
    Sleep,
    StreamMeta,
    StreamResult,
    Timeouts,
)
from .errors import BadRequest
from .streaming import MAX_RETRY_WAIT, StreamingResponse, backoff_delay, collect
from .tokens import count_message_tokens, count_tokens

if TYPE_CHECKING:
    import httpx

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "MAX_RETRY_WAIT",
    "ROLES",
    "AdapterConfig",
    "FinishReason",
    "GenerationSettings",
    "Image",
    "Message",
    "ModelAdapter",
    "Role",
    "Sleep",
    "StreamMeta",
    "StreamResult",
    "StreamingResponse",
    "Timeouts",
    "backoff_delay",
    "collect",
    "count_message_tokens",
    "count_tokens",
    "refuse_images",
]


def refuse_images(reason: str) -> BadRequest:
    """The error for a conversation with images that this model cannot take; a voter is told just that."""
    error = BadRequest(reason)
    error.user_message = "This model cannot take images."
    return error


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
    #: Whether the provider's API takes images in user messages. A model's admin entry still has to say that the
    #: model itself accepts them (ArenaModel.accepts_images); the local adapter decides per checkpoint.
    supports_images: ClassVar[bool] = False
    #: Why a conversation with images is refused when :meth:`accepts_images` is false (a BadRequest's message).
    images_refusal: ClassVar[str] = "this model does not accept images"

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
        """Start streaming an answer; iterate the result for text chunks.

        An empty conversation, or one with images for an adapter that does not accept them, is a BadRequest
        raised here, before any network call or model load.
        """
        if not messages:
            raise BadRequest("the conversation is empty")
        if any(m.images for m in messages) and not self.accepts_images():
            raise refuse_images(self.images_refusal)
        return StreamingResponse(self, list(messages), settings or GenerationSettings())

    def accepts_images(self) -> bool:
        """Whether this adapter can send images to its model: :attr:`supports_images` unless overridden."""
        return self.supports_images

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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.config.model!r}>"
