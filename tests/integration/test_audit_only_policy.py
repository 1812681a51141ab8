"""`gradient-keys vault policy --audit-only`: enough for the audit, and nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hvac
import pytest

from components.vault_policy import render_policy
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, manage

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/ro-{tmp_path.name[-8:]}")


def token(root: hvac.Client, policy: str, name: str) -> str:
    root.sys.create_or_update_policy(name, policy)
    return str(
        root.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    )


def gk(managed: Managed, vault_token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.cli", *args, "--config", str(managed.stack_file)],
        cwd=REPO,
        env={**os.environ, **managed.env, "VAULT_TOKEN": vault_token},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def vault_state(root: hvac.Client, managed: Managed) -> tuple[int, dict[str, str]]:
    meta = root.secrets.kv.v2.read_secret_metadata(f"{managed.prefix}/apps/chatbot", mount_point="secret")
    return meta["data"]["current_version"], meta["data"]["custom_metadata"]


def test_the_audit_only_policy_audits_and_changes_nothing(managed: Managed, root_vault: hvac.Client) -> None:
    read_only = token(root_vault, render_policy("secret", managed.prefix, audit_only=True), "gk-ro")
    assert gk(managed, read_only, "audit").returncode == 0
    before = vault_state(root_vault, managed)
    refused = gk(managed, read_only, "rotate", "--all")
    assert refused.returncode == 4, refused.stderr
    assert vault_state(root_vault, managed) == before
    # Reading secret values takes the --verify-secrets variant: the preflight says so, exit 4.
    assert gk(managed, read_only, "audit", "--verify-secrets").returncode == 4


def test_the_verify_variant_reads_secrets_and_still_writes_nothing(
    managed: Managed, root_vault: hvac.Client
) -> None:
    policy = render_policy("secret", managed.prefix, audit_only=True, verify_secrets=True)
    verifier = token(root_vault, policy, "gk-ro-verify")
    assert gk(managed, verifier, "audit", "--verify-secrets").returncode == 0
    assert (
        'path "secret/delete/' not in policy
        and '"create"' not in policy
        and '"update"' not in policy.split("sys/capabilities-self")[0]
    )
    assert gk(managed, verifier, "rotate", "--all").returncode == 4


def test_verify_secrets_on_the_policy_needs_audit_only() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "components.cli", "vault", "policy", "--verify-secrets"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "--audit-only" in result.stderr
