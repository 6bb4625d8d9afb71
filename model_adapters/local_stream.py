"""Bridging a generation thread to asyncio, for the local-checkpoint adapter.

``transformers``' ``generate()`` blocks, so it runs in a thread of its own and
hands each new token to a :class:`TokenBridge` (it implements the streamer
interface ``put``/``end``). The bridge decodes the tokens generated so far,
holds back text that might be the start of a stop string
(:class:`StopStringFilter`), and passes the rest to the event loop through
``call_soon_threadsafe``. A shared ``threading.Event`` is the way back: the
async side sets it when the stream is closed or cancelled, and the stopping
criterion that ``generate()`` checks after every token reads it, so the thread
ends after at most one more token.

Nothing here imports torch; values from ``generate()`` only need ``tolist()``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .errors import AdapterError, ProviderError

_END = object()


class StopStringFilter:
    """Cuts streamed text at the first stop string, holding back what could start one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""
        self.stopped = False

    def push(self, text: str) -> str:
        """Add new text; return what is safe to show now."""
        if self.stopped:
            return ""
        self.pending += text
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            safe, self.pending = self.pending[: min(hits)], ""
            return safe
        keep = self._longest_stop_prefix_suffix()
        safe = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(safe) :]
        return safe

    def flush(self) -> str:
        """The text held back, once generation has ended without reaching a stop string."""
        text, self.pending = ("" if self.stopped else self.pending), ""
        return text

    def _longest_stop_prefix_suffix(self) -> int:
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), longest, -1):
                if self.pending.endswith(stop[:size]):
                    longest = size
                    break
        return longest


class IncrementalDecoder:
    """Turns a growing list of token ids into text deltas, decoding a short window each time.

    Decoding the whole answer at every token costs O(n²) for an n-token answer.
    Decoding from the previous step's tokens instead gives the same text in
    O(n): both sides of the difference start at the same token, so tokenizers
    that drop a leading space at the start of a decode treat them alike. A
    window ending in U+FFFD (a character split across tokens) waits for more.
    """

    def __init__(self, tokenizer: Any, hidden_ids: frozenset[int] = frozenset()) -> None:
        self.tokenizer = tokenizer
        self.hidden_ids = hidden_ids  # e.g. end-of-sequence ids: counted, never shown
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def add(self, new_ids: Sequence[int]) -> str:
        """Take newly generated ids; return the text they add (possibly empty, for now)."""
        self.ids.extend(i for i in new_ids if i not in self.hidden_ids)
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        window = self._decode(self.ids[self.prefix_offset :])
        if len(window) <= len(prefix) or window.endswith("\ufffd"):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        return window[len(prefix) :]

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text


class TokenBridge:
    """The streamer ``generate()`` calls from its thread; iterate :meth:`texts` on the event loop."""

    def __init__(
        self, tokenizer: Any, loop: asyncio.AbstractEventLoop, stops: Sequence[str], eos_ids: frozenset[int]
    ) -> None:
        self.decoder = IncrementalDecoder(tokenizer, eos_ids)  # eos never shown, even if not marked special
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.stop_requested = threading.Event()
        self.filter = StopStringFilter(stops)
        self.token_ids: list[int] = []
        self._prompt_seen = False

    # -- the generation thread's side ------------------------------------------------------

    def put(self, value: Any) -> None:
        """Receive new token ids; the first call carries the prompt, which is skipped."""
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        ids = _flatten(value.tolist())
        self.token_ids.extend(ids)
        self._send(self.filter.push(self.decoder.add(ids)))
        if self.filter.stopped:
            self.stop_requested.set()

    def end(self) -> None:
        """Generation finished: release the held-back text and end the stream."""
        self._send(self.filter.flush())
        self._send(_END)

    def fail(self, exc: BaseException) -> None:
        """Generation raised: pass the error to the event loop."""
        self._send(exc)

    def should_stop(self) -> bool:
        """Read by the stopping criterion after every token."""
        return self.stop_requested.is_set()

    def _send(self, item: object) -> None:
        if item == "":
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            self.stop_requested.set()

    # -- the event loop's side -----------------------------------------------------------

    async def texts(self) -> AsyncIterator[str]:
        """Text as it is generated; an error in the thread is raised here."""
        while True:
            item = await self.queue.get()
            if item is _END:
                return
            if isinstance(item, AdapterError):
                raise item
            if isinstance(item, BaseException):
                raise generation_error(item) from item
            assert isinstance(item, str)
            yield item


def generation_error(exc: BaseException) -> AdapterError:
    """The adapter error for an exception raised by ``generate()``."""
    name = type(exc).__name__
    if "OutOfMemory" in name:
        return ProviderError("the GPU ran out of memory while generating")
    return ProviderError(f"local generation failed ({name})", retryable=False)


def run_in_thread(target: Any, name: str) -> threading.Thread:
    """Start ``target`` in a daemon thread (a stuck generation must not block worker shutdown)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _flatten(ids: Any) -> list[int]:
    if isinstance(ids, int):
        return [ids]
    out: list[int] = []
    for item in ids:
        out.extend(_flatten(item))
    return out
