"""Stop strings in a token stream (no torch needed)."""

from __future__ import annotations

import pytest

from model_adapters.local_stream import StopStringFilter


def feed(stops: tuple[str, ...], pieces: list[str]) -> tuple[list[str], bool]:
    stop_filter = StopStringFilter(stops)
    shown = [stop_filter.push(piece) for piece in pieces]
    if not stop_filter.stopped:
        shown.append(stop_filter.flush())
    return [s for s in shown if s], stop_filter.stopped


def test_text_is_cut_just_before_a_stop_string_split_across_tokens():
    shown, stopped = feed(("</answer>",), ["The end", " is near</", "ans", "wer> and more"])
    assert "".join(shown) == "The end is near"
    assert stopped


def test_a_partial_match_that_does_not_complete_is_released():
    shown, stopped = feed(("STOP",), ["ST", "OR", "Y"])
    assert "".join(shown) == "STORY"
    assert not stopped


def test_text_that_cannot_start_a_stop_string_is_shown_at_once():
    stop_filter = StopStringFilter(("###",))
    assert stop_filter.push("hello #") == "hello "
    assert stop_filter.push("!") == "#!"


@pytest.mark.parametrize("stops", [("b",), ("xyz", "b"), ("b", "bcd")])
def test_the_earliest_stop_string_wins(stops):
    shown, stopped = feed(stops, ["abcdxyz"])
    assert "".join(shown) == "a" and stopped


def test_nothing_is_held_back_without_stop_strings():
    stop_filter = StopStringFilter(())
    assert stop_filter.push("anything") == "anything"
