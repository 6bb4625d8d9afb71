"""Typed errors raised by model adapters.

Every failure an adapter can report is one of these, so callers never catch
provider- or transport-specific exceptions::

    AdapterError                    base; .retryable, .user_message
    ├── AdapterTimeout              connect, first token, stall or total deadline passed
    ├── RateLimited                 HTTP 429 or the provider's equivalent; .retry_after
    ├── AuthenticationFailed        missing, invalid or unauthorised key
    ├── BadRequest                  the provider rejected the request itself
    ├── ContentRefused              the provider refused to answer the content
    ├── ProviderError               5xx, overloaded, broken stream, malformed events
    └── ConfigurationError          the adapter is not set up correctly (no key env, bad URL)

``retryable`` says whether the same request may succeed if sent again. The
streaming wrapper retries only retryable errors and only before the first
chunk has been shown. ``user_message`` is short and fit to show a voter; it
never contains a key, a URL with credentials, or a provider's raw body.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base class of every adapter failure."""

    retryable: bool = False
    user_message: str = "The model failed to answer."

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable

    @property
    def message(self) -> str:
        return str(self)


class AdapterTimeout(AdapterError):
    retryable = True
    user_message = "The model took too long to answer."


class RateLimited(AdapterError):
    retryable = True
    user_message = "The model is receiving too many requests right now."

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(AdapterError):
    user_message = "The arena could not authenticate with the model's provider."


class BadRequest(AdapterError):
    user_message = "The model's provider rejected the request."


class ContentRefused(AdapterError):
    user_message = "The model's provider refused to answer this prompt."


class ProviderError(AdapterError):
    retryable = True
    user_message = "The model's provider had an error."


class ConfigurationError(AdapterError):
    user_message = "This model is not configured correctly."
