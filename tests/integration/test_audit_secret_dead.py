"""`audit --verify-secrets` asks the inference endpoint, not only the fingerprint: a secret that
was killed behind the tool's back is `secret-dead` (issue 12, defect 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/dead-{tmp_path.name[-8:]}")


def test_a_dead_secret_with_a_matching_fingerprint_is_critical(managed: Managed, emulator: Emulator) -> None:
    # A regenerate that committed after the client gave up: DigitalOcean killed the stored secret.
    emulator.store.regenerate(managed.states["chatbot"].slot_a_uuid)
    code, report, _err = managed.audit()
    assert code == 0  # without --verify-secrets nothing reads the secret
    code, report, err = managed.audit("--verify-secrets")
    found = {f["id"]: f for f in report["findings"]}
    assert code == 1 and found["secret-dead"]["severity"] == "critical", err
    assert "secret-changed-outside" not in found  # the fingerprint still matches the ledger
    assert managed.rotate("chatbot")[0] == 0  # the fix the finding names
    code, report, _err = managed.audit("--verify-secrets")
    assert code == 0 and report["findings"] == []
