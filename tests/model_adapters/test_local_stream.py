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


class PieceTokenizer:
    """A SentencePiece-like fake: a decode drops its leading space; ids 5 and 6 are the two bytes of é."""

    pieces: dict[int, bytes] = {
        1: b" Hello", 2: b",", 3: b" wor", 4: b"ld", 5: b"\xc3", 6: b"\xa9", 7: b" caf", 9: b"",
    }

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        text = b"".join(self.pieces[i] for i in ids).decode("utf-8", errors="replace")
        return text.removeprefix(" ")


def test_incremental_decoding_gives_the_text_of_a_full_decode_without_split_characters():
    from model_adapters.local_stream import IncrementalDecoder

    tokenizer = PieceTokenizer()
    ids = [1, 2, 3, 4, 7, 5, 6, 3, 4]
    decoder = IncrementalDecoder(tokenizer)
    deltas = [decoder.add([i]) for i in ids]
    assert "".join(deltas) == tokenizer.decode(ids) == "Hello, world café world"
    assert deltas[:3] == ["Hello", ",", " wor"]  # the space before "wor" survives windowed decoding
    assert deltas[5] == "" and deltas[6] == "é"  # half a character waits for the other half
    assert all("\ufffd" not in d for d in deltas)


def test_hidden_ids_such_as_end_of_sequence_are_never_shown():
    from model_adapters.local_stream import IncrementalDecoder

    decoder = IncrementalDecoder(PieceTokenizer(), hidden_ids=frozenset({4}))
    assert decoder.add([1]) + decoder.add([4]) + decoder.add([2]) == "Hello,"
