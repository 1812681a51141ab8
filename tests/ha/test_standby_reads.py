"""Read-your-writes through a standby: OpenBao's standbys answer reads from their own copy of the
raft log, which lags a write they forwarded. gradient-keys sends back the `X-Vault-Index` each answer
carries with `X-Vault-Inconsistent: forward-active-node`, so its read (and the ledger mirror, a
read-modify-write) right after its own write never sees the path as it was before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao_cluster import OpenBaoCluster, running_cluster
from tests.conftest import require_openbao

ROUNDS = 15


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoCluster]:
    require_openbao()
    with running_cluster(tmp_path_factory.mktemp("standby-reads")) as running:
        yield running


def ledger(secret: Secret) -> Ledger:
    return Ledger(
        fingerprint=secret.fingerprint,
        rotated_at="2026-11-26T00:00:00Z",
        slot_a="11111111-1111-4111-8111-111111111111",
        slot_b="22222222-2222-4222-8222-222222222222",
        active_slot="a",
    )


@pytest.mark.slow
def test_a_standby_lags_a_write_it_forwarded(cluster: OpenBaoCluster) -> None:
    """The premise, checked on the server itself: without the headers a standby answers a read of a
    path written through it a moment ago with 404 (if this stops failing, OpenBao changed)."""
    standby = cluster.standbys()[0]
    stale = 0
    for i in range(ROUNDS):
        cluster.request(standby, "POST", f"secret/data/premise/{i}", json={"data": {"v": "1"}})
        stale += cluster.request(standby, "GET", f"secret/metadata/premise/{i}").status_code == 404
    assert stale > 0


@pytest.mark.slow
def test_the_tool_reads_its_own_writes_through_a_standby(cluster: OpenBaoCluster) -> None:
    standby = cluster.standbys()[0]
    env = {
        "VAULT_ADDR": standby.address,
        "VAULT_TOKEN": cluster.root_token,
        "VAULT_CACERT": str(cluster.ca.ca_cert),
    }
    sink = VaultSink(path_prefix="standby", environ=env, retry_seconds=0)
    for i in range(ROUNDS):
        secret = Secret(f"sk-do-standby-{i:04d}-0123456789abcdef")
        written = sink.write(f"apps/{i}", secret, ledger(secret), 0)
        assert written.mirror_in_sync, i  # the mirror's read-modify-write saw the version just written
        entry = sink.read_ledger(f"apps/{i}")
        assert entry is not None and entry.version == written.version == 1, i
        fresh = Secret(f"sk-do-standby-{i:04d}-fedcba9876543210")
        again = sink.write(f"apps/{i}", fresh, ledger(fresh), 1)  # check-and-set on what we read
        assert again.version == 2 and again.mirror_in_sync, i
    # and it really was a standby answering
    health = requests.get(f"{standby.address}/v1/sys/health", verify=str(cluster.ca.ca_cert), timeout=5)
    assert health.status_code == 429
