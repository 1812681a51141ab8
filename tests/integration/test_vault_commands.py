"""`gradient-keys vault policy|check --stack`: the stack's own mount, prefix, key paths and delete
modes, against a real OpenBao with tokens that hold only generated policies."""

from __future__ import annotations

import hvac
import pytest

from components.vault_policy import render_policy
from sandbox.openbao import OpenBaoServer
from tests.integration.test_cli import gk

DEV_PREFIX = "gradient-keys/dev"  # stacks/Pulumi.dev.yaml


def token_for(root_vault: hvac.Client, prefix: str) -> str:
    name = f"vault-commands-{prefix.replace('/', '-')}"
    root_vault.sys.create_or_update_policy(name, render_policy("secret", prefix))
    created = root_vault.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")
    return str(created["auth"]["client_token"])


def test_policy_for_a_stack_is_the_policy_for_its_mount_and_prefix() -> None:
    printed = gk("vault", "policy", "--stack", "dev")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == render_policy("secret", DEV_PREFIX)
    assert printed.stdout != gk("vault", "policy").stdout  # the default prefix is not the dev stack's
    audit_only = gk("vault", "policy", "--stack", "dev", "--audit-only")
    assert audit_only.stdout == render_policy("secret", DEV_PREFIX, audit_only=True)


def test_check_for_a_stack_checks_each_declared_path_with_its_delete_mode(
    openbao: OpenBaoServer, root_vault: hvac.Client
) -> None:
    env = {**openbao.environment(token_for(root_vault, DEV_PREFIX)), "HOME": "/nonexistent"}
    checked = gk("vault", "check", "--stack", "dev", env=env)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [
        "ok  secret/data/gradient-keys/dev/apps/chatbot  (write, ledger, on_delete soft-delete)",
        "ok  secret/data/gradient-keys/dev/apps/batch  (write, ledger, on_delete destroy)",
    ]
    one = gk("vault", "check", "--stack", "dev", "apps/batch", env=env)
    assert one.returncode == 0 and one.stdout.count("ok  ") == 1, one.stderr


def test_a_token_for_another_prefix_is_refused_on_the_stacks_path(
    openbao: OpenBaoServer, root_vault: hvac.Client
) -> None:
    env = openbao.environment(token_for(root_vault, "gradient-keys/prod"))
    refused = gk("vault", "check", "--stack", "dev", env=env)
    assert refused.returncode == 4, refused.stderr
    assert "secret/data/gradient-keys/dev/apps/" in refused.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("check", "--stack", "dev", "--prefix", "x"), "--prefix and the stack"),
        (("policy", "--stack", "dev", "--mount", "kv"), "--mount and the stack"),
        (("check", "--stack", "dev", "apps/nope"), "'apps/nope' is not a vault_path of stack dev"),
        (("check",), "say what to check"),
        (("check", "--stack", "nope"), "no stack 'nope' in the Pulumi project"),
    ],
)
def test_mixed_or_unknown_targets_are_usage_errors(args: tuple[str, ...], says: str) -> None:
    result = gk("vault", *args, env={"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t"})
    assert result.returncode == 2 and says in result.stderr, result.stderr


def test_check_says_when_the_mount_is_missing_or_not_kv_v2(
    openbao: OpenBaoServer, root_vault: hvac.Client
) -> None:
    """The capabilities alone pass for a root token on any path: the mount itself is checked."""
    env = openbao.environment()
    missing = gk("vault", "check", "--mount", "kv-typo", "apps/x", env=env)
    assert missing.returncode == 2, missing.stderr
    assert "Vault has no mount this login can see at kv-typo/" in missing.stderr
    assert "vault secrets enable -path=kv-typo kv-v2" in missing.stderr
    if "kv-one/" not in root_vault.sys.list_mounted_secrets_engines()["data"]:
        root_vault.sys.enable_secrets_engine("kv", path="kv-one", options={"version": "1"})
    version_one = gk("vault", "check", "--mount", "kv-one", "apps/x", env=env)
    assert version_one.returncode == 2 and "Vault has a kv v1 mount at kv-one/" in version_one.stderr
    assert gk("vault", "check", "apps/x", env=env).returncode == 0  # secret/ is KV v2


def test_a_refused_capability_points_at_the_policy_command(
    openbao: OpenBaoServer, root_vault: hvac.Client
) -> None:
    env = openbao.environment(token_for(root_vault, "gradient-keys/prod"))
    refused = gk("vault", "check", "--stack", "dev", env=env)
    assert refused.returncode == 4
    assert "grant the policy that `gradient-keys vault policy --stack NAME` prints" in refused.stderr
    assert "policies/gradient-keys.hcl" not in refused.stderr
