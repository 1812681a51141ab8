"""A Vault answer that redirects to another origin (another host, or https -> http) is refused
before it is followed: the token (`X-Vault-Token`, which requests does not strip) and any secret
body never reach the other end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.errors import VaultError, VaultUnavailableError
from components.vault_sink import VaultSink

TOKEN = "hvs.planted-token-for-redirect-tests"


class Elsewhere(BaseHTTPRequestHandler):
    seen: list[str] = []  # noqa: RUF012 - shared by the handler instances of one server

    def _answer(self) -> None:
        Elsewhere.seen.append(f"{self.command} {self.path} token={self.headers.get('X-Vault-Token')}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"data": {}}')

    do_GET = do_POST = do_PUT = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@pytest.fixture
def redirecting_vault() -> Iterator[str]:
    elsewhere, other_port = serve(Elsewhere)
    Elsewhere.seen = []

    class Redirector(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(307)  # 307 keeps the method and the body: a write would resend the secret
            self.send_header("Location", f"http://localhost:{other_port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    server, port = serve(Redirector)
    yield f"http://127.0.0.1:{port}"
    for running in (server, elsewhere):
        running.shutdown()
        running.server_close()


def test_a_redirect_to_another_host_is_refused(redirecting_vault: str) -> None:
    """Never followed; tried again at VAULT_ADDR (a standby redirects while it cannot forward)
    until the retry window ends, then unavailable (exit 3) with the redirect named."""
    waits: list[float] = []
    sink = VaultSink(
        environ={"VAULT_ADDR": redirecting_vault, "VAULT_TOKEN": TOKEN}, retry_seconds=0, sleep=waits.append
    )
    with pytest.raises(VaultUnavailableError, match="redirected to another origin") as caught:
        sink.read_ledger("apps/chatbot")
    assert len(waits) == sink.max_attempts - 1  # retried, at the same address
    assert Elsewhere.seen == []  # nothing, the token least of all, reached the other host
    assert TOKEN not in str(caught.value)
    assert isinstance(caught.value, VaultError)
