"""`gradient-keys sandbox up --vault-ha`: a local Vault in production shape, in the background.

Three OpenBao nodes with raft storage and TLS from a local CA (sandbox/openbao_cluster.py), and the
balancer in front of them (sandbox/balancer.py) as its own process, so `VAULT_ADDR` stays one address
while nodes are killed or sealed. Everything lives under the sandbox directory's `openbao-ha/`
(rebuilt on each `up`: its root token and CA are new each time) and is stopped by PID on `down`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.openbao import OpenBaoError, _free_port, bao_process, child_environment, open_private_log
from sandbox.openbao_cluster import OpenBaoCluster, start_cluster
from sandbox.processes import Launched, created_at, stop

__all__ = ["HaVault", "balancer_process", "start_ha"]

READY_SECONDS = 15.0
# What lets the balancer's interpreter import the sandbox package.
BALANCER_INHERITS = ("PYTHONPATH", "PYTHONHOME")


@dataclass(frozen=True)
class HaVault:
    address: str  # the balancer
    root_token: str
    ca_cert: Path
    nodes: tuple[tuple[int, float | None], ...]  # (pid, creation time) of each node
    balancer: tuple[int, float | None]

    def launched(self) -> list[Launched]:
        return [*(bao_process(pid, made) for pid, made in self.nodes), balancer_process(*self.balancer)]


def balancer_process(pid: int, made: float | None) -> Launched:
    return Launched("the Vault balancer", pid, made, _is_balancer)


def _is_balancer(command: Sequence[str]) -> bool:
    return list(command[1:3]) == ["-m", "sandbox.balancer"]


def start_ha(directory: Path) -> HaVault:
    """A fresh 3-node cluster under `directory/openbao-ha` and its balancer, both detached."""
    home = directory / "openbao-ha"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o700)
    cluster = start_cluster(home, detach=True)
    try:
        return _with_balancer(cluster, home)
    except BaseException:
        cluster.stop()
        raise


def _with_balancer(cluster: OpenBaoCluster, home: Path) -> HaVault:
    port = _free_port()
    log = open_private_log(home / "balancer.log")
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox.balancer",
                "--listen",
                str(port),
                "--ca-cert",
                str(cluster.ca.ca_cert),
                "--mode",
                "any",
                *cluster.addresses,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
            env=child_environment({}, inherit=BALANCER_INHERITS),
        )
    finally:
        os.close(log)
    balancer = (process.pid, created_at(process.pid))
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OpenBaoError(f"the Vault balancer exited at start; see {home / 'balancer.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        stop([balancer_process(*balancer)])
        raise OpenBaoError(f"the Vault balancer did not listen within {READY_SECONDS:.0f}s")
    nodes = tuple((node.process.pid, node.created) for node in cluster.nodes if node.process is not None)
    return HaVault(f"https://127.0.0.1:{port}", cluster.root_token, cluster.ca.ca_cert, nodes, balancer)
