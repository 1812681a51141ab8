"""Vault over TLS with a private CA, as production runs it: a one-node OpenBao (raft storage, the
certificate from sandbox/local_ca.py) that only a client given `VAULT_CACERT` can trust."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.errors import ExitCode, VaultUntrustedError, exit_code
from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao_cluster import OpenBaoCluster, running_cluster
from tests.conftest import require_openbao
from tests.integration.rotation_env import REPO

PLANTED = "sk-do-planted-over-tls-0123456789"


@pytest.fixture(scope="module")
def tls_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoCluster]:
    require_openbao()
    with running_cluster(tmp_path_factory.mktemp("tls-vault"), size=1) as cluster:
        yield cluster


def environment(cluster: OpenBaoCluster, *, trusted: bool) -> dict[str, str]:
    env = {"VAULT_ADDR": cluster.nodes[0].address, "VAULT_TOKEN": cluster.root_token}
    return {**env, "VAULT_CACERT": str(cluster.ca.ca_cert)} if trusted else env


def ledger() -> Ledger:
    return Ledger(
        fingerprint=Secret(PLANTED).fingerprint,
        rotated_at="2026-11-26T00:00:00Z",
        slot_a="11111111-1111-4111-8111-111111111111",
        slot_b=None,
        active_slot="a",
    )


def test_vault_cacert_is_what_verifies_vaults_certificate(tls_vault: OpenBaoCluster) -> None:
    sink = VaultSink(path_prefix="tls", environ=environment(tls_vault, trusted=True))
    sink.write("apps/x", Secret(PLANTED), ledger(), 0)
    secret, entry = sink.read_secret("apps/x")
    assert secret.reveal() == PLANTED and entry.version == 1


def test_an_untrusted_certificate_fails_at_once_naming_the_fix(tls_vault: OpenBaoCluster) -> None:
    """Not retried (no retry mends it), not called unreachable, exit 2: a setting to fix."""
    waits: list[float] = []
    started = time.monotonic()
    sink = VaultSink(path_prefix="tls", environ=environment(tls_vault, trusted=False), sleep=waits.append)
    before = sink.requests_made  # the token login, counted though it sends nothing
    with pytest.raises(VaultUntrustedError) as raised:
        sink.read_ledger("apps/x")
    assert waits == [] and sink.requests_made == before + 1 and time.monotonic() - started < 5
    message = str(raised.value)
    assert "VAULT_CACERT" in message and "certificate" in message and tls_vault.root_token not in message
    assert exit_code(raised.value) == ExitCode.USAGE


def test_the_command_says_so_too(tls_vault: OpenBaoCluster, tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.tls.yaml"
    stack.write_text(
        "config:\n  gradient-keys:vault:\n    path_prefix: tls\n  gradient-keys:keys:\n"
        "    - name: chatbot\n      vault_path: apps/chatbot\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "components.cli", "vault", "check", "--config", str(stack)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **environment(tls_vault, trusted=False)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "VAULT_CACERT" in run.stdout + run.stderr and "Traceback" not in run.stderr
