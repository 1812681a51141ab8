"""One Vault login per provider process (issue 13): the engine sends a provider process every
operation of a `pulumi preview`, and with AppRole or JWT each login mints a Vault token. Counted
from outside, as the tokens Vault holds, not by the tool's own counter."""

from __future__ import annotations

import uuid
from pathlib import Path

import hvac

from components.vault_policy import render_policy
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import environment
from tests.provider.harness import ProviderProcess, from_struct
from tests.provider.test_provider_grpc import create_in_place_keys

KEYS = 5


def approle_environment(root: hvac.Client, base: dict[str, str]) -> dict[str, str]:
    mount = f"approle-{uuid.uuid4().hex[:6]}"
    root.sys.create_or_update_policy("gradient-keys-logins", render_policy())
    root.sys.enable_auth_method("approle", path=mount)
    root.auth.approle.create_or_update_approle(
        "previewer", token_policies=["gradient-keys-logins"], mount_point=mount
    )
    role_id = root.auth.approle.read_role_id("previewer", mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("previewer", mount_point=mount)["data"]["secret_id"]
    env = {k: v for k, v in base.items() if k != "VAULT_TOKEN"}
    return {**env, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id, "VAULT_APPROLE_MOUNT": mount}


def tokens(root: hvac.Client) -> int:
    return len(root.auth.token.list_accessors()["data"]["keys"])


def test_a_preview_of_many_keys_logs_in_to_vault_once(
    emulator: Emulator, openbao: OpenBaoServer, root_vault: hvac.Client, tmp_path: Path
) -> None:
    env = environment(emulator, openbao, tmp_path)
    emulator.config.create_mode = "legacy"
    made = create_in_place_keys(env, root_vault, [f"logins-{i}" for i in range(KEYS)])
    previewer_env = approle_environment(root_vault, env)
    before = tokens(root_vault)
    previewer = ProviderProcess(previewer_env)  # a preview: a check of every key, in one process
    try:
        for name, _id, outs in made:
            checked = previewer.check(name, outs, {**outs, "rotation_token": ""})
            assert not checked.failures, checked.failures
            assert from_struct(checked.inputs)["pending_rotation"] == ""  # read from Vault's ledger
    finally:
        previewer.close()
    assert tokens(root_vault) - before == 1, f"{KEYS} checks logged in {tokens(root_vault) - before} times"
