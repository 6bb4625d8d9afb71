"""A real HTTP server on 127.0.0.1 that plays scripted replies, for the HTTP adapters' tests.

Each request takes the next queued :class:`Reply`: a status, headers, and body
parts sent as separate HTTP/1.1 chunks (a float part pauses that many seconds,
to force stalls), optionally cut off without the final chunk (a dropped
connection). Requests are recorded for assertions, and the server notices when
the client goes away mid-body (``disconnected``), which is how the tests see
that closing a stream closes the upstream request.

Given a ``check`` (the conftest fixture passes :func:`.wire.check_request`), the
server first checks each request's body the way the real API would, and
answers a malformed one with that check's status and error body instead of
the next scripted reply (which stays queued).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A request check: given the path and the decoded body, ``(status, JSON error body)`` to refuse it, else None.
RequestCheck = Callable[[str, Any], "tuple[int, bytes] | None"]


@dataclass
class Reply:
    status: int = 200
    parts: list[bytes | float] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False
    content_type: str = "text/event-stream"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.server.owner
        owner.requests.append(Request("POST", self.path, headers, body))
        refusal = owner.check(self.path, body) if owner.check is not None else None
        if refusal is not None:
            owner.refused.append(refusal[1])
            reply = Reply(refusal[0], [refusal[1]], content_type="application/json")
        else:
            try:
                reply = owner.replies.get_nowait()
            except queue.Empty:
                reply = Reply(500, [b'{"error": {"message": "no scripted reply"}}'], content_type="application/json")
        self.close_connection = True
        try:
            self._play(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.server.owner.disconnected.set()

    def _play(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for part in reply.parts:
            if isinstance(part, float):
                if self.server.owner.stopping.wait(part):
                    return
                continue
            if part:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
        if reply.cut:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: WireServer


class WireServer:
    """Start with :meth:`start`, queue replies with :meth:`reply`, stop with :meth:`stop`."""

    def __init__(self, check: RequestCheck | None = None) -> None:
        self.check = check
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.requests: list[Request] = []
        self.refused: list[bytes] = []  # the error bodies of requests the check refused
        self.stopping = threading.Event()
        self.disconnected = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, *replies: Reply) -> None:
        for reply in replies:
            self.replies.put(reply)

    def start(self) -> WireServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def free_port_url() -> str:
    """A URL on a port where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
