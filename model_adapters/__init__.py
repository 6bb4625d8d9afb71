"""Model adapters: one streaming contract for every provider. Importable without Django.

- :mod:`.base` — the contract (``ModelAdapter``) and everything it re-exports;
  :mod:`.conversation` the data types, :mod:`.streaming` the shared driver
  (deadlines, retries, timing, counting), :mod:`.errors` the error tree.
- :mod:`.registry` — adapter kinds to classes by dotted path, imported on first use.
- Providers: :mod:`.demo`, :mod:`.openai_compat`, :mod:`.anthropic`, :mod:`.gemini`
  (HTTP plumbing in :mod:`.httpstream` and :mod:`.sse`), :mod:`.local` (torch, GPU workers only).
- :mod:`.cli` — ``python -m model_adapters stream KIND …`` for operators.

See docs/adapters.md.
"""

from .base import (
    AdapterConfig,
    GenerationSettings,
    Image,
    Message,
    ModelAdapter,
    StreamingResponse,
    StreamMeta,
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
    "Image",
    "Message",
    "ModelAdapter",
    "ProviderError",
    "RateLimited",
    "StreamMeta",
    "StreamResult",
    "StreamingResponse",
    "Timeouts",
    "collect",
]
