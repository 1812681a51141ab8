"""`gradient-keys vault policy --audit-only`: enough for the audit, and nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hvac
import pytest
import yaml

from components.errors import VaultPermissionError
from components.vault_policy import render_policy
from components.vault_sink import VaultSink
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


def test_the_audit_only_policy_of_a_stack_reads_its_webhook_urls_and_no_other_data(
    managed: Managed, root_vault: hvac.Client
) -> None:
    """`vault policy --audit-only --stack` lets the audit read the URLs its notification targets keep
    in Vault (for `overdue` notices), and still no secret."""
    url_path = "notifications/security"
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{managed.prefix}/{url_path}", {"url": "http://127.0.0.1:9/hook"}, mount_point="secret"
    )
    stack = yaml.safe_load(managed.stack_file.read_text())
    stack["config"]["gradient-keys:notifications"] = [
        {"name": "security", "url_from": {"vault": {"path": url_path}}, "events": ["overdue"]}
    ]
    token_path = "accounts/team-b"  # an account's token: the audit reads it to list that account
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{managed.prefix}/{token_path}", {"token": "dop_v1_audit_team_b"}, mount_point="secret"
    )
    stack["config"]["gradient-keys:accounts"] = [
        {"name": "team-b", "token_from": {"vault": {"path": token_path}}}
    ]
    managed.stack_file.write_text(yaml.safe_dump(stack))
    command = ["vault", "policy", "--audit-only", "--config", str(managed.stack_file)]
    printed = subprocess.run(
        [sys.executable, "-m", "components.cli", *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == render_policy(
        "secret", managed.prefix, audit_only=True, webhook_paths=(url_path,), token_paths=(token_path,)
    )
    hook_token = token(root_vault, printed, "gk-hook")
    reader = VaultSink(path_prefix=managed.prefix, environ={**managed.env, "VAULT_TOKEN": hook_token})
    url = reader.read_field(url_path, "url")
    assert url is not None and url.reveal() == "http://127.0.0.1:9/hook"
    account_token = reader.read_field(token_path, "token")
    assert account_token is not None and account_token.reveal() == "dop_v1_audit_team_b"
    with pytest.raises(VaultPermissionError):
        reader.read_secret("apps/chatbot")  # the keys' secrets stay out of reach
    plain = render_policy("secret", managed.prefix, audit_only=True)
    plain_token = token(root_vault, plain, "gk-nohook")
    without = VaultSink(path_prefix=managed.prefix, environ={**managed.env, "VAULT_TOKEN": plain_token})
    with pytest.raises(VaultPermissionError):
        without.read_field(url_path, "url")
