"""A webhook receiver for the notification tests: an HTTP server on loopback, in a thread, that
records every request (method, path, headers, body, and the bytes as received) and answers as a
test tells it: a script of replies (a status, headers, a delay before answering), then a default.

    with Receiver() as receiver:
        receiver.script(Reply(500), Reply(500))     # fail twice, then the default (200)
        url = receiver.url("/hooks/T000/B000/token")
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Received", "Receiver", "Reply", "dead_url"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hanging receiver)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw: bytes  # the request line, the headers and the body, as they came

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def without_target(self) -> bytes:
        """Every byte received except the request target (the URL's path, which the URL put there)."""
        return self.raw.replace(self.path.encode(), b"", 1)


class Receiver:
    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.received: list[Received] = []
        self.default = Reply()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                raw = self.requestline.encode() + b"\r\n" + self.headers.as_bytes() + body
                reply = receiver._record(
                    Received(self.command, self.path, dict(self.headers.items()), body, raw)
                )
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST  # recorded too: a redirect followed would show here

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            return self._script.popleft() if self._script else self.default

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; then `default`."""
        with self._lock:
            self._script.extend(replies)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        """The requests that came to `path`."""
        return [r for r in self.received if r.path == path]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def dead_url(path: str) -> str:
    """An http URL on loopback where nothing listens (a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
