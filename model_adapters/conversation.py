"""The data an adapter works with: the conversation, settings, configuration and results.

Plain frozen dataclasses with validation, so a bad value fails where it is
configured (the admin form, the command line) rather than mid-stream.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from .errors import BadRequest, ConfigurationError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
#: Why a stream ended. "incomplete": the stream ended without the provider saying why (a connection
#: closed early by a proxy or a crashed server looks like this), so the answer may be cut off.
FinishReason = Literal["stop", "length", "content_filter", "cancelled", "error", "incomplete"]

Sleep = Callable[[float], Awaitable[None]]


#: The image types an adapter is given: the arena re-encodes every upload to one of these (arena/images.py).
IMAGE_MEDIA_TYPES: tuple[str, ...] = ("image/png", "image/jpeg")


@dataclass(frozen=True)
class Image:
    """An image attached to a user message: already validated and re-encoded, metadata stripped.

    ``data`` is the encoded file (PNG or JPEG, as ``media_type`` says); ``sha256`` is the hex digest of
    ``data``, the name the arena stores it under.
    """

    media_type: str
    data: bytes
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.media_type not in IMAGE_MEDIA_TYPES:
            raise ValueError(f"image media type must be one of {', '.join(IMAGE_MEDIA_TYPES)}, not {self.media_type!r}")
        if not isinstance(self.data, bytes) or not self.data:
            raise ValueError("image data must be non-empty bytes")
        if self.width < 1 or self.height < 1:
            raise ValueError("image width and height must be positive")

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.data).hexdigest()

    def base64(self) -> str:
        """The data as standard base64 (no line breaks), as every provider's JSON takes it."""
        import base64

        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """``data:<media type>;base64,<data>``, the form OpenAI-compatible ``image_url`` parts take."""
        return f"data:{self.media_type};base64,{self.base64()}"

    def decoded(self) -> PILImage:
        """The picture decoded with Pillow, in RGB (for adapters that look at pixels: the demo, local checkpoints).

        A BadRequest when Pillow cannot decode it (the arena validated it, so only a corrupted store does that).
        """
        import io

        import PIL.Image

        try:
            with PIL.Image.open(io.BytesIO(self.data)) as opened:
                return opened.convert("RGB")
        except (OSError, ValueError, PIL.Image.DecompressionBombError):
            raise BadRequest(f"an image ({self.media_type}, {self.width}×{self.height}) could not be decoded") from None


@dataclass(frozen=True)
class Message:
    """One message of a conversation; a user message may carry images (shown to the model before its text)."""

    role: Role
    content: str
    images: tuple[Image, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError("message content must be a string")
        if not isinstance(self.images, tuple) or any(not isinstance(image, Image) for image in self.images):
            raise ValueError("message images must be a tuple of Image")
        if self.images and self.role != "user":
            raise ValueError("only user messages carry images")


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
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ValueError("seed must be an integer")

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
        """A copy with ``overrides`` applied, validated like :meth:`from_mapping`."""
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
        """Build deadlines from JSON-like data; missing keys keep their defaults."""
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
        """Read the key from the named environment variable, else the named secret file.

        Read at every call so a rotated key is picked up without a restart. The
        errors name where the key was looked for, never a value.
        """
        if self.key_env:
            value = os.environ.get(self.key_env, "").strip()
            if value:
                return value
        if self.key_file:
            try:
                value = Path(self.key_file).read_text().strip()
            except OSError as exc:
                raise ConfigurationError(f"the secret file {self.key_file} cannot be read ({exc.strerror})") from None
            if value:
                return value
        if not required:
            return None
        if self.key_file:
            raise ConfigurationError(f"the secret file {self.key_file} is empty")
        if self.key_env:
            raise ConfigurationError(f"the environment variable {self.key_env} is not set")
        raise ConfigurationError("no key environment variable or secret file is configured")


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
