"""A Vault in production shape on loopback: three OpenBao nodes with integrated storage (raft), TLS
from a local CA, initialised and unsealed here, KV v2 mounted at `secret/`.

Used by the HA tests (a leader killed, a standby sealed, mid-rotation) and by `gradient-keys sandbox
up --vault-ha`. Each node listens on its own API and cluster port of 127.0.0.1; the nodes find the
leader with `retry_join` and forward what a standby receives to the active node over the cluster
port. `performance_multiplier = 1` is the production setting (HashiCorp's reference architecture):
the default of 5 suits slow hardware and makes an election five times slower.

The unseal key and root token are this cluster's only: they live in this process (and in the
sandbox's private state for `sandbox up`), never in a command line or a child's environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sandbox.local_ca import LocalCA, make_local_ca
from sandbox.openbao import (
    OpenBaoError,
    _free_port,
    bao_binary,
    bao_process,
    child_environment,
    open_private_log,
)
from sandbox.processes import created_at, stop

__all__ = ["ClusterNode", "OpenBaoCluster", "start_cluster"]

READY_DEADLINE_SECONDS = 60.0
SIZE = 3


@dataclass
class ClusterNode:
    name: str
    api_port: int
    cluster_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    created: float | None = None

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def config(self) -> Path:
        return self.directory / "config.json"

    @property
    def log(self) -> Path:
        return self.directory / "bao.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class OpenBaoCluster:
    """Three nodes. `root_token` and `unseal_key` are this throwaway cluster's own."""

    directory: Path
    ca: LocalCA
    nodes: list[ClusterNode]
    root_token: str = field(default="", repr=False)
    unseal_key: str = field(default="", repr=False)
    detach: bool = False  # `sandbox up --vault-ha`: the nodes outlive the command that started them

    # -- talking to one node ------------------------------------------------------------------
    def request(
        self, node: ClusterNode, method: str, path: str, timeout: float = 5, **kwargs: Any
    ) -> requests.Response:
        headers = {"X-Vault-Token": self.root_token} if self.root_token else {}
        return requests.request(
            method,
            f"{node.address}/v1/{path}",
            headers=headers,
            verify=str(self.ca.ca_cert),
            allow_redirects=False,
            timeout=timeout,
            **kwargs,
        )

    def health(self, node: ClusterNode) -> str:
        """active, standby, sealed, uninitialized or down (from `sys/health`'s status codes);
        exited when the process we started has ended (its log says why)."""
        if node.process is not None and node.process.poll() is not None:
            return "exited"
        try:
            code = self.request(node, "GET", "sys/health", timeout=1).status_code
        except requests.RequestException:
            return "down"
        return {200: "active", 429: "standby", 473: "standby", 501: "uninitialized", 503: "sealed"}.get(
            code, f"http {code}"
        )

    def states(self) -> dict[str, str]:
        return {node.name: self.health(node) for node in self.nodes}

    # -- the whole cluster ---------------------------------------------------------------------
    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes]

    def leader(self) -> ClusterNode | None:
        return next((node for node in self.nodes if self.health(node) == "active"), None)

    def standbys(self) -> list[ClusterNode]:
        return [node for node in self.nodes if self.health(node) == "standby"]

    def wait_for(
        self, ready: Callable[[], bool], what: str, deadline: float = READY_DEADLINE_SECONDS
    ) -> float:
        """Poll `ready` until true; the seconds it took. Raises naming `what` and the nodes' states."""
        started = time.monotonic()
        while time.monotonic() - started < deadline:
            if ready():
                return time.monotonic() - started
            time.sleep(0.05)
        logs = ", ".join(str(node.log) for node in self.nodes)
        raise OpenBaoError(
            f"OpenBao cluster: {what} not within {deadline:.0f}s; nodes: {self.states()}; logs: {logs}"
        )

    def wait_for_leader(self, deadline: float = READY_DEADLINE_SECONDS) -> float:
        """Seconds until a node is active and every running, unsealed node agrees it is a standby."""

        def settled() -> bool:
            states = self.states()
            return "active" in states.values() and all(
                state in ("active", "standby", "sealed", "down") for state in states.values()
            )

        return self.wait_for(settled, "a leader", deadline)

    # -- faults ------------------------------------------------------------------------------
    def kill(self, node: ClusterNode) -> None:
        """SIGKILL: the node dies mid-whatever, as a crashed host would."""
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=10)

    def restart(self, node: ClusterNode) -> None:
        """Start a stopped node again and unseal it: it rejoins as a standby."""
        if not node.running:
            self._launch(node)
            self.wait_for(lambda: self.health(node) in ("sealed", "standby", "active"), f"{node.name} up")
        self.unseal(node)

    def seal(self, node: ClusterNode) -> None:
        """Seal one node. `sys/seal` on a standby would be forwarded to the leader, so a standby is
        sealed the way an operator's restart leaves it: stopped, then started without its key."""
        if self.health(node) == "active":
            answer = self.request(node, "PUT", "sys/seal")
            if answer.status_code != 204:
                raise OpenBaoError(f"sealing {node.name}: HTTP {answer.status_code} {answer.text[:200]}")
            return
        self.kill(node)
        self._launch(node)
        self.wait_for(lambda: self.health(node) == "sealed", f"{node.name} sealed")

    def unseal(self, node: ClusterNode) -> None:
        answer = self.request(node, "PUT", "sys/unseal", json={"key": self.unseal_key})
        if answer.status_code != 200:
            raise OpenBaoError(f"unsealing {node.name}: HTTP {answer.status_code} {answer.text[:200]}")
        self.wait_for(lambda: self.health(node) in ("standby", "active"), f"{node.name} unsealed")

    # -- life ----------------------------------------------------------------------------------
    def _launch(self, node: ClusterNode) -> None:
        log = open_private_log(node.log) if not node.log.exists() else _append(node.log)
        try:
            node.process = subprocess.Popen(
                [str(bao_binary()), "server", f"-config={node.config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detach,
                env=child_environment({}),
            )
        finally:
            os.close(log)
        node.created = created_at(node.process.pid)

    def start(self) -> None:
        for node in self.nodes:
            self._write_config(node)
            self._launch(node)
        first = self.nodes[0]
        self.wait_for(lambda: self.health(first) == "uninitialized", f"{first.name} listening")
        answer = self.request(first, "PUT", "sys/init", json={"secret_shares": 1, "secret_threshold": 1})
        if answer.status_code != 200:
            raise OpenBaoError(f"initialising the cluster: HTTP {answer.status_code} {answer.text[:200]}")
        body = answer.json()
        self.unseal_key, self.root_token = body["keys_base64"][0], body["root_token"]
        self.unseal(first)
        self.wait_for(lambda: self.health(first) == "active", f"{first.name} active")
        for node in self.nodes[1:]:
            # A node joins the raft cluster when unsealed (retry_join), then serves as a standby.
            self.wait_for(lambda n=node: self.health(n) == "sealed", f"{node.name} up")  # type: ignore[misc]
            self.unseal(node)
        self.wait_for(lambda: len(self.voters()) == len(self.nodes), "every node a raft voter")
        mounted = self.request(
            first, "POST", "sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}}
        )
        if mounted.status_code not in (200, 204):
            raise OpenBaoError(f"mounting KV v2 at secret/: HTTP {mounted.status_code} {mounted.text[:200]}")
        # A new KV v2 mount answers 400 ("waiting for the primary to upgrade") until its upgrade
        # has reached every node: ready when a probe written to the leader reads back everywhere.
        self.wait_for(lambda: self._probe(first, "POST"), "KV v2 at secret/ on the leader")
        for node in self.nodes[1:]:
            self.wait_for(lambda n=node: self._probe(n, "GET"), f"KV v2 at secret/ on {node.name}")  # type: ignore[misc]

    def _probe(self, node: ClusterNode, method: str) -> bool:
        body = {"data": {"ready": "yes"}} if method == "POST" else None
        try:
            return self.request(node, method, "secret/data/sandbox/ready", json=body).status_code == 200
        except requests.RequestException:
            return False

    def voters(self) -> list[str]:
        leader = self.leader()
        if leader is None:
            return []
        answer = self.request(leader, "GET", "sys/storage/raft/configuration")
        if answer.status_code != 200:
            return []
        servers = answer.json()["data"]["config"]["servers"]
        return [s["node_id"] for s in servers if s.get("voter")]

    def stop(self, timeout: float = 10.0) -> None:
        launched = [
            bao_process(node.process.pid, node.created) for node in self.nodes if node.process is not None
        ]
        stop(launched, timeout)
        for node in self.nodes:
            if node.process is not None:
                node.process.poll()  # reap

    def _write_config(self, node: ClusterNode) -> None:
        (node.directory / "raft").mkdir(parents=True, exist_ok=True)
        joins = [
            {"leader_api_addr": other.address, "leader_ca_cert_file": str(self.ca.ca_cert)}
            for other in self.nodes
            if other is not node
        ]
        config = {
            "storage": {
                "raft": {
                    "path": str(node.directory / "raft"),
                    "node_id": node.name,
                    "performance_multiplier": 1,
                    **({"retry_join": joins} if joins else {}),
                }
            },
            "listener": [
                {
                    "tcp": {
                        "address": f"127.0.0.1:{node.api_port}",
                        "cluster_address": f"127.0.0.1:{node.cluster_port}",
                        "tls_cert_file": str(self.ca.cert),
                        "tls_key_file": str(self.ca.key),
                    }
                }
            ],
            "api_addr": node.address,
            "cluster_addr": f"https://127.0.0.1:{node.cluster_port}",
            "disable_mlock": True,
            "ui": False,
            "log_level": "info",
        }
        node.config.write_text(json.dumps(config, indent=2))

    def __enter__(self) -> OpenBaoCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND)


def _ports(count: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < count:
        port = _free_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


def start_cluster(directory: Path, size: int = SIZE, detach: bool = False) -> OpenBaoCluster:
    """`size` nodes (3; 1 for a plain TLS server) under `directory`, initialised, unsealed, with a
    leader and KV v2 at `secret/`."""
    ca = make_local_ca(directory / "tls")
    ports = _ports(2 * size)
    nodes = [
        ClusterNode(f"node{i + 1}", ports[2 * i], ports[2 * i + 1], directory / f"node{i + 1}")
        for i in range(size)
    ]
    cluster = OpenBaoCluster(directory, ca, nodes, detach=detach)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextmanager
def running_cluster(directory: Path, size: int = SIZE) -> Iterator[OpenBaoCluster]:
    cluster = start_cluster(directory, size)
    try:
        yield cluster
    finally:
        cluster.stop()
