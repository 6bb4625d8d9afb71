"""Status codes to the error tree, Retry-After, and keeping keys out of messages."""

from __future__ import annotations

import json

import pytest

from model_adapters import (
    AdapterTimeout,
    AuthenticationFailed,
    BadRequest,
    ContentRefused,
    ProviderError,
    RateLimited,
)
from model_adapters.httpstream import error_for_response, redact, retry_after_seconds

KEY = "sk-live-abcdefghijklmnop1234"


def body(message: str, **extra: object) -> bytes:
    return json.dumps({"error": {"message": message, **extra}}).encode()


@pytest.mark.parametrize(
    ("status", "expected", "retryable"),
    [
        (401, AuthenticationFailed, False),
        (403, AuthenticationFailed, False),
        (429, RateLimited, True),
        (408, AdapterTimeout, True),
        (400, BadRequest, False),
        (404, BadRequest, False),
        (422, BadRequest, False),
        (500, ProviderError, True),
        (503, ProviderError, True),
        (529, ProviderError, True),
        (501, ProviderError, False),
        (302, ProviderError, False),
    ],
)
def test_each_status_maps_to_its_error_and_retry_flag(status, expected, retryable):
    error = error_for_response(status, {}, body("nope"), provider="P")
    assert type(error) is expected
    assert error.retryable is retryable
    assert f"HTTP {status}" in str(error)


def test_a_content_policy_rejection_is_a_refusal_not_a_bad_request():
    error = error_for_response(400, {}, body("rejected", code="content_policy_violation"), provider="P")
    assert isinstance(error, ContentRefused)
    moderated = body("Your chosen model requires moderation and your input was flagged for violence")
    assert isinstance(error_for_response(403, {}, moderated, provider="OpenRouter"), ContentRefused)


def test_a_bad_safety_setting_is_a_bad_request_not_a_refusal():
    error = error_for_response(400, {}, body("Invalid value at 'safety_settings[0].threshold'"), provider="Gemini")
    assert isinstance(error, BadRequest)


def test_a_gemini_invalid_key_is_an_authentication_failure():
    payload = {"error": {"code": 400, "message": "API key not valid.", "details": [{"reason": "API_KEY_INVALID"}]}}
    error = error_for_response(400, {}, json.dumps(payload).encode(), provider="Gemini")
    assert isinstance(error, AuthenticationFailed)


def test_the_key_never_appears_in_an_error_message():
    for status in (400, 401, 429, 500):
        error = error_for_response(status, {}, body(f"bad key {KEY} given"), provider="P", secret=KEY)
        assert KEY not in str(error) and KEY not in repr(error)


def test_key_shaped_strings_are_redacted_even_when_they_are_not_our_key():
    assert redact("Incorrect API key provided: sk-proj-AAAAAAAAAAAAAAAAAAAA.", None) == (
        "Incorrect API key provided: [redacted]."
    )


def test_retry_after_is_read_in_seconds_milliseconds_http_dates_and_google_retry_info():
    assert retry_after_seconds({"retry-after": "7"}, None) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}, None) == 1.5
    when = retry_after_seconds({"retry-after": "Sun, 22 Nov 2026 08:00:30 GMT"}, None, now=1795334400.0)
    assert when == 30.0
    google = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}]}}
    assert retry_after_seconds({}, google) == 27.0
    assert retry_after_seconds({"retry-after": "soon"}, None) is None


def test_a_long_provider_message_is_cut_short():
    error = error_for_response(500, {}, body("x" * 5000), provider="P")
    assert len(str(error)) < 400
