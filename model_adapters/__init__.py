"""Model adapters: one streaming contract for every provider. Importable without Django."""

from .base import (
    AdapterConfig,
    GenerationSettings,
    Message,
    ModelAdapter,
    StreamingResponse,
    StreamResult,
    Timeouts,
    collect,
)
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

__all__ = [
    "AdapterConfig",
    "AdapterError",
    "AdapterTimeout",
    "AuthenticationFailed",
    "BadRequest",
    "ConfigurationError",
    "ContentRefused",
    "GenerationSettings",
    "Message",
    "ModelAdapter",
    "ProviderError",
    "RateLimited",
    "StreamResult",
    "StreamingResponse",
    "Timeouts",
    "collect",
]
