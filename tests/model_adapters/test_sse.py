"""The server-sent events parser."""

from __future__ import annotations

from collections.abc import AsyncIterator

from model_adapters.sse import EventDecoder, ServerSentEvent, iter_events


async def lines_of(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def parse(*lines: str) -> list[ServerSentEvent]:
    return [event async for event in iter_events(lines_of(*lines))]


async def test_a_blank_line_dispatches_the_event_with_its_name():
    events = await parse("event: message_start", 'data: {"a": 1}', "", "data: two", "")
    assert events == [ServerSentEvent('{"a": 1}', "message_start"), ServerSentEvent("two", "message")]


async def test_several_data_lines_are_joined_by_newlines():
    assert await parse("data: first", "data: second", "") == [ServerSentEvent("first\nsecond")]


async def test_comments_unknown_fields_and_lines_without_a_colon_are_ignored():
    events = await parse(": keep-alive", "garbage", "retry: 100", "foo: bar", "data: x", "")
    assert events == [ServerSentEvent("x")]


async def test_only_one_space_after_the_colon_is_removed():
    assert (await parse("data:  indented", ""))[0].data == " indented"
    assert (await parse("data:tight", ""))[0].data == "tight"


async def test_an_event_pending_at_the_end_of_the_stream_is_still_dispatched():
    assert await parse("data: last") == [ServerSentEvent("last")]


async def test_an_event_name_without_data_does_not_leak_into_the_next_event():
    assert await parse("event: ping", "", "data: x", "") == [ServerSentEvent("x", "message")]


async def test_carriage_returns_left_by_a_line_splitter_do_not_change_the_data():
    assert await parse("data: x\r\n", "\r\n") == [ServerSentEvent("x")]


def test_the_decoder_can_be_fed_line_by_line():
    decoder = EventDecoder()
    assert decoder.feed("data: x") is None
    assert decoder.feed("") == ServerSentEvent("x")
