"""The campaign's Vault (`tests.campaign.lab.CampaignVault`) as production runs it: a 3-node OpenBao
raft cluster with TLS (sandbox/openbao_cluster.py) behind a health-checked balancer
(sandbox/balancer.py), so the tool, the consumers and the checks all use one `VAULT_ADDR` and never
learn which node answers. Faults act on nodes: the leader killed, a standby sealed.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import requests

from sandbox.balancer import Balancer
from sandbox.openbao import OpenBaoServer
from sandbox.openbao_cluster import ClusterNode, OpenBaoCluster, start_cluster

__all__ = ["ClusterVault", "Failover"]


@dataclass
class Failover:
    """One fault and how long the cluster took to serve again (a leader, seen by the balancer)."""

    what: str
    node: str
    recovered_seconds: float


@dataclass
class ClusterVault:
    directory: Path
    cluster: OpenBaoCluster | None = None
    balancer: Balancer | None = None
    failovers: list[Failover] = field(default_factory=list)

    @property
    def address(self) -> str:
        assert self.balancer is not None
        return self.balancer.address

    @property
    def root_token(self) -> str:
        return self._cluster.root_token

    @property
    def ca_cert(self) -> Path | None:
        return self._cluster.ca.ca_cert

    @property
    def _cluster(self) -> OpenBaoCluster:
        assert self.cluster is not None, "start() first"
        return self.cluster

    # -- CampaignVault ------------------------------------------------------------------------
    def start(self) -> None:
        self.cluster = start_cluster(self.directory)
        # Every unsealed node takes traffic: standbys answer reads themselves and forward writes,
        # which is what a standby killed or sealed mid-request has to survive.
        self.balancer = Balancer.of(self.cluster.addresses, str(self.cluster.ca.ca_cert), mode="any").start()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        if self.cluster is not None:
            self.cluster.stop()

    def seal(self) -> None:
        self.seal_standby()

    def freeze(self) -> None:
        raise NotImplementedError("the HA scenarios kill and seal nodes; freezing is the single-node tier's")

    def restore(self) -> None:
        """Every node running and unsealed, one leader, the balancer seeing it."""
        cluster = self._cluster
        for node in cluster.nodes:
            if cluster.health(node) in ("down", "exited", "sealed"):
                cluster.restart(node)
        cluster.wait_for(
            lambda: all(s in ("active", "standby") for s in cluster.states().values()), "all nodes up"
        )
        self.wait_until_served()
        # A node just unsealed answers 500 ("active cluster node not found") until it has heard
        # from the leader: the round starts once every node names the same one.
        cluster.wait_for(self._leader_agreed, "every node naming the leader")

    def _leader_agreed(self) -> bool:
        cluster = self._cluster
        leader = cluster.leader()
        if leader is None:
            return False
        for node in cluster.nodes:
            try:
                answer = cluster.request(node, "GET", "sys/leader", timeout=2)
            except requests.RequestException:
                return False
            if answer.status_code != 200 or answer.json().get("leader_address") != leader.address:
                return False
        return True

    def root(self, timeout: int = 10) -> hvac.Client:
        """The judge's client: the active node itself. A standby behind the balancer may still be
        catching up (a node just unsealed replays the raft log), and the truth is the leader's."""
        leader = self._cluster.leader()
        url = leader.address if leader is not None else self.address
        return hvac.Client(url=url, token=self.root_token, timeout=timeout, verify=str(self.ca_cert))

    def server(self) -> OpenBaoServer:
        return OpenBaoServer(self.address, self.root_token, 0, ca_cert=self.ca_cert)

    # -- faults ---------------------------------------------------------------------------------
    def kill_leader(self) -> ClusterNode:
        """SIGKILL the active node; note how long until the balancer routes to a new one."""
        cluster = self._cluster
        leader = cluster.leader()
        assert leader is not None, f"no leader to kill: {cluster.states()}"
        started = time.monotonic()
        cluster.kill(leader)
        self.wait_until_served(exclude=leader)
        self.failovers.append(Failover("leader killed", leader.name, round(time.monotonic() - started, 2)))
        return leader

    def seal_standby(self) -> ClusterNode:
        cluster = self._cluster
        standby = cluster.standbys()[0]
        cluster.seal(standby)
        return standby

    def wait_until_served(self, exclude: ClusterNode | None = None) -> float:
        """Seconds until a node other than `exclude` is active and the balancer has checked it."""
        cluster, balancer = self._cluster, self.balancer
        assert balancer is not None

        def served() -> bool:
            leader = cluster.leader()
            if leader is None or leader is exclude:
                return False
            balancer.check()
            return any(b.healthy and b.url == leader.address for b in balancer.backends)

        return cluster.wait_for(served, "a leader behind the balancer")
