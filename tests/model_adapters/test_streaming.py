"""The streaming driver every adapter shares, exercised with a scripted fake model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from model_adapters import (
    AdapterConfig,
    AdapterTimeout,
    AuthenticationFailed,
    BadRequest,
    GenerationSettings,
    Message,
    ModelAdapter,
    ProviderError,
    RateLimited,
    Timeouts,
    collect,
)
from model_adapters.base import StreamMeta, backoff_delay, count_message_tokens
from model_adapters.streaming import MAX_RETRY_WAIT

from .conftest import RecordedSleep

Step = str | float | Exception
HI = [Message("user", "Hi")]


class ScriptedAdapter(ModelAdapter):
    """A fake model: each attempt plays the next script (text chunks, pauses in seconds, errors)."""

    kind = "scripted"
    label = "Scripted fake"
    requires_key = False

    def __init__(self, *scripts: list[Step], timeouts: Timeouts | None = None, max_retries: int = 2,
                 sleep: RecordedSleep | None = None, usage: tuple[int, int] | None = None) -> None:
        config = AdapterConfig(model="fake", timeouts=timeouts or Timeouts(), max_retries=max_retries)
        super().__init__(config, sleep=sleep or RecordedSleep())
        self.scripts = list(scripts)
        self.closed = 0
        self.usage = usage

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        script = self.scripts.pop(0)
        try:
            for step in script:
                if isinstance(step, Exception):
                    raise step
                if isinstance(step, float):
                    await asyncio.sleep(step)
                    continue
                yield step
            if self.usage:
                meta.input_tokens, meta.output_tokens = self.usage
        finally:
            self.closed += 1


async def test_a_retryable_failure_before_the_first_chunk_is_retried_up_to_the_limit():
    adapter = ScriptedAdapter([ProviderError("a")], [ProviderError("b")], [ProviderError("c")], max_retries=2)
    with pytest.raises(ProviderError, match="c"):
        await collect(adapter.stream(HI))
    assert adapter.scripts == []
    assert len(adapter.sleep.delays) == 2  # type: ignore[attr-defined]


async def test_a_permanent_failure_is_not_retried():
    adapter = ScriptedAdapter([AuthenticationFailed("no")], ["never"])
    with pytest.raises(AuthenticationFailed):
        await collect(adapter.stream(HI))
    assert adapter.scripts == [["never"]]


async def test_a_failure_after_text_was_shown_is_never_retried():
    adapter = ScriptedAdapter(["shown ", ProviderError("late")], ["again"])
    response = adapter.stream(HI)
    with pytest.raises(ProviderError):
        await collect(response)
    assert response.text == "shown "
    assert adapter.scripts == [["again"]]
    assert response.result is not None and response.result.finish_reason == "error"


async def test_a_retry_after_longer_than_a_voter_would_wait_is_reported_not_slept():
    adapter = ScriptedAdapter([RateLimited("busy", retry_after=MAX_RETRY_WAIT + 40)], ["ok"])
    with pytest.raises(RateLimited):
        await collect(adapter.stream(HI))
    assert adapter.sleep.delays == []  # type: ignore[attr-defined]


async def test_no_retry_is_attempted_when_its_wait_would_pass_the_total_deadline():
    timeouts = Timeouts(first_token=1, stall=1, total=2)
    adapter = ScriptedAdapter([RateLimited("busy", retry_after=5)], ["ok"], timeouts=timeouts)
    with pytest.raises(RateLimited):
        await collect(adapter.stream(HI))
    assert adapter.sleep.delays == []  # type: ignore[attr-defined]


def test_the_backoff_grows_with_each_attempt_and_stays_bounded():
    for attempt in range(1, 10):
        delay = backoff_delay(attempt, None)
        nominal = min(MAX_RETRY_WAIT, 0.5 * 2 ** (attempt - 1))
        assert nominal / 2 <= delay <= nominal
    assert backoff_delay(1, 3.0) == 3.0


async def test_the_total_deadline_ends_a_stream_that_never_stalls():
    timeouts = Timeouts(first_token=1, stall=1, total=0.4)
    adapter = ScriptedAdapter(["x", *(s for _ in range(50) for s in (0.05, "x"))], timeouts=timeouts)
    response = adapter.stream(HI)
    with pytest.raises(AdapterTimeout, match=r"did not finish within 0\.4 s"):
        await collect(response)
    assert adapter.closed == 1
    assert 0 < len(response.text) < 50


async def test_closing_early_closes_the_model_generator_and_records_a_cancelled_result():
    adapter = ScriptedAdapter(["a", "b", "c", "d"])
    response = adapter.stream(HI)
    async with response:
        async for chunk in response:
            if chunk == "b":
                break
    assert adapter.closed == 1
    assert response.result is not None
    assert (response.result.text, response.result.finish_reason) == ("ab", "cancelled")


async def test_cancelling_the_consuming_task_closes_the_model_generator():
    adapter = ScriptedAdapter(["a", 10.0, "b"])

    async def consume() -> None:
        await collect(adapter.stream(HI))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert adapter.closed == 1


async def test_counts_are_estimated_and_flagged_when_the_provider_reports_none():
    result = await collect(ScriptedAdapter(["Hello", ", world"]).stream(HI))
    assert result.tokens_counted is True
    assert result.input_tokens == count_message_tokens(HI)
    assert result.output_tokens == 3  # "Hello", ",", "world"


async def test_provider_counts_win_over_the_estimate():
    result = await collect(ScriptedAdapter(["Hello"], usage=(100, 200)).stream(HI))
    assert (result.input_tokens, result.output_tokens, result.tokens_counted) == (100, 200, False)


async def test_empty_chunks_are_not_passed_on():
    response = ScriptedAdapter(["", "a", "", "b"]).stream(HI)
    assert [chunk async for chunk in response] == ["a", "b"]


async def test_an_unexpected_exception_becomes_a_permanent_provider_error():
    adapter = ScriptedAdapter([KeyError("oops")], ["never"])
    with pytest.raises(ProviderError) as caught:
        await collect(adapter.stream(HI))
    assert caught.value.retryable is False
    assert adapter.scripts == [["never"]]


def test_an_empty_conversation_is_a_bad_request():
    with pytest.raises(BadRequest):
        ScriptedAdapter(["x"]).stream([])


async def test_closing_only_the_iterator_still_closes_the_model_generator():
    adapter = ScriptedAdapter(["a", "b", "c"])
    iterator = adapter.stream(HI).__aiter__()
    assert await iterator.__anext__() == "a"
    await iterator.aclose()  # type: ignore[attr-defined]
    assert adapter.closed == 1
