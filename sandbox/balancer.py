"""A loopback TCP load balancer in front of an OpenBao cluster, as production puts one (or a DNS
name with health checks) in front of Vault: clients get one `VAULT_ADDR` and never learn which node
answers.

It passes TLS through untouched (the nodes' certificate names 127.0.0.1, so clients verify it as if
they spoke to a node) and sends each new connection to a node that passes its health check:
`GET /v1/sys/health`, answered 200 by the active node and 429 by an unsealed standby. `mode="active"`
routes to the active node only (HashiCorp's advice for clusters whose standbys forward); `"any"`
also to unsealed standbys. Checks run every `interval` seconds; a connection to a node that just
died is refused or reset, and clients retry it, as they must behind any real balancer.

    python -m sandbox.balancer --listen 8200 --ca-cert ca.pem https://127.0.0.1:8201 ...
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

__all__ = ["Balancer"]

HEALTHY = {"active": frozenset({200}), "any": frozenset({200, 429, 473})}
CHUNK = 65536


@dataclass
class Backend:
    url: str
    healthy: bool = False
    checked_status: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 443


@dataclass
class Balancer:
    backends: list[Backend]
    ca_cert: str
    mode: str = "active"
    interval: float = 0.2
    port: int = 0
    connections: int = 0
    _socket: socket.socket | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _turn: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @classmethod
    def of(cls, urls: Sequence[str], ca_cert: str, mode: str = "active", port: int = 0) -> Balancer:
        if mode not in HEALTHY:
            raise ValueError(f"mode must be one of {sorted(HEALTHY)}, not {mode!r}")
        return cls([Backend(url) for url in urls], ca_cert, mode, port=port)

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- health -------------------------------------------------------------------------------
    def check(self) -> None:
        for backend in self.backends:
            try:
                status = requests.get(
                    f"{backend.url}/v1/sys/health", verify=self.ca_cert, timeout=max(self.interval, 0.5)
                ).status_code
            except requests.RequestException:
                status = None
            backend.checked_status = status
            backend.healthy = status in HEALTHY[self.mode]

    def _checking(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def pick(self) -> Backend | None:
        healthy = [b for b in self.backends if b.healthy]
        return healthy[next(self._turn) % len(healthy)] if healthy else None

    # -- traffic ------------------------------------------------------------------------------
    def start(self) -> Balancer:
        self.check()
        listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self.port = listener.getsockname()[1]
        self._socket = listener
        for target in (self._accepting, self._checking):
            thread = threading.Thread(target=target, name=f"balancer {target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _accepting(self) -> None:
        assert self._socket is not None
        self._socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backend = self.pick()
        if backend is None:
            client.close()  # nothing healthy: refused, as a balancer with no pool member does
            return
        try:
            upstream = socket.create_connection(backend.address, timeout=2)
        except OSError:
            backend.healthy = False  # died since the last check
            client.close()
            return
        upstream.settimeout(None)
        _pump(client, upstream, self._stop)

    def stop(self) -> None:
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Balancer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pump(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes (or the balancer stops)."""
    with contextlib.ExitStack() as closing, selectors.DefaultSelector() as selector:
        closing.callback(a.close)
        closing.callback(b.close)
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.5):
                source, sink = key.fileobj, key.data
                assert isinstance(source, socket.socket)
                try:
                    data = source.recv(CHUNK)
                    if not data:
                        return
                    sink.sendall(data)
                except OSError:
                    return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--ca-cert", required=True, help="CA bundle the health checks verify the nodes with")
    parser.add_argument("--mode", choices=sorted(HEALTHY), default="active")
    parser.add_argument("backends", nargs="+", help="node API addresses, https://127.0.0.1:PORT")
    args = parser.parse_args(argv)
    balancer = Balancer.of(args.backends, args.ca_cert, args.mode, port=args.listen).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        balancer.stop()


if __name__ == "__main__":
    main()
