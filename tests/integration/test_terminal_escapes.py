"""Key names typed in the control panel reach terminals escaped: C0/C1 controls could clear or
recolour a CI log, bidirectional controls can make a table show a name it does not hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, manage

HOSTILE = ["evil\x1b[2J\x1b]0;owned\x07name", "chatbot\u202edorp-", "csi\x9b31mred"]
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    keys = [{"name": "chatbot", "vault_path": "apps/chatbot"}]
    return manage(emulator, openbao, tmp_path, keys, prefix=f"gradient-keys/esc-{tmp_path.name[-8:]}")


def gk(managed: Managed, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.cli", *args],
        cwd=REPO,
        env={**os.environ, **managed.env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_keys_list_and_audit_escape_control_characters(managed: Managed, emulator: Emulator) -> None:
    for name in HOSTILE:  # as a DigitalOcean that accepts any name would list them
        emulator.store.create(name)
    listed = gk(managed, "keys", "list")
    audited = gk(managed, "audit", "--config", str(managed.stack_file), "--fail-on", "critical")
    assert listed.returncode == 0 and audited.returncode == 0, listed.stderr + audited.stderr
    for output in (listed.stdout + listed.stderr, audited.stdout + audited.stderr):
        assert not any(raw in output for raw in RAW)
    assert "evil\\x1b[2J\\x1b]0;owned\\x07name" in listed.stdout and "chatbot\\u202edorp-" in listed.stdout
    assert "csi\\x9b31mred" in audited.stdout  # the unmanaged-key finding names it, escaped
