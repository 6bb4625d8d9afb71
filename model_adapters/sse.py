"""Server-sent events, as the HTML standard defines the ``text/event-stream`` format.

Lines are ``field: value``; ``data`` lines accumulate (joined by newlines),
``event`` names the event, a blank line dispatches it, lines starting with
``:`` are comments (keep-alives such as ``: OPENROUTER PROCESSING``). Lines
with an unknown field, or no colon at all, are ignored as the standard says.
Only the parsing lives here; what the data means is each provider's business.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: str = ""


@dataclass
class EventDecoder:
    """Turns lines (without their line ending) into events, one line at a time."""

    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _id: str = ""

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line; return the event it completes, if any."""
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if not colon:
            value = ""
        elif value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def flush(self) -> ServerSentEvent | None:
        """Dispatch what has accumulated (a blank line, or the end of the stream)."""
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = ""
        return event


async def iter_events(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Parse an async stream of lines (e.g. ``httpx.Response.aiter_lines()``) into events.

    An event still pending when the stream ends is dispatched too: some servers
    omit the final blank line, and a cut connection is reported by the transport.
    """
    decoder = EventDecoder()
    async for line in lines:
        event = decoder.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event
    last = decoder.flush()
    if last is not None:
        yield last
