"""policies/gradient-keys.hcl is the least privilege: enough for everything, nothing to spare.

A token holding only that policy (not even Vault's default policy) does every Vault operation
the tool performs; a token missing any single capability in it is stopped by the preflight, and
nothing is written.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import hvac
import pytest

from components.errors import VaultPermissionError
from components.ledger import Ledger
from components.secret import Secret
from components.vault_policy import render_policy
from components.vault_sink import VaultSink

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "gradient-keys.hcl"


def policy_capabilities(text: str) -> list[tuple[str, str]]:
    found = []
    for path, caps in re.findall(r'path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]', text):
        found += [(path, cap.strip().strip('"')) for cap in caps.split(",")]
    return found


def without(text: str, path: str, capability: str) -> str:
    block = re.search(rf'path "{re.escape(path)}" \{{\s*capabilities = \[([^\]]*)\]', text)
    assert block is not None
    kept = [c.strip() for c in block.group(1).split(",") if c.strip().strip('"') != capability]
    return text.replace(block.group(0), block.group(0).replace(block.group(1), ", ".join(kept)))


def token_with(root: hvac.Client, policy_text: str) -> str:
    name = f"variant-{uuid.uuid4().hex[:8]}"
    root.sys.create_or_update_policy(name, policy_text)
    return str(
        root.auth.token.create(policies=[name], no_default_policy=True, ttl="5m")["auth"]["client_token"]
    )


def test_the_policy_file_is_what_the_tool_generates() -> None:
    assert POLICY_FILE.read_text() == render_policy()


def test_other_mounts_and_prefixes_render() -> None:
    text = render_policy("kv", "gradient/prod")
    assert 'path "kv/data/gradient/prod/*"' in text and "secret/" not in text


def test_the_policy_is_enough_for_everything_the_tool_does(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    sink = VaultSink(environ={**vault_env, "VAULT_TOKEN": token_with(root_vault, render_policy())})
    for mode in ("keep", "soft-delete", "destroy"):
        sink.preflight([key_path], delete_mode=mode, audit=True)
    first, second = Secret("sk-do-least-1"), Secret("sk-do-least-2")
    sink.write(key_path, first, Ledger(first.fingerprint, "2026-11-25T00:00:00Z", slot_a="u"), 0)
    # a stale mirror (another writer died half-way) is rebuilt with this token too
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"gradient-keys/{key_path}",
        {
            "api_key": second.reveal(),
            "gradient_keys_ledger": Ledger(second.fingerprint, "2026-11-26T00:00:00Z").to_data_field(),
        },
        cas=1,
        mount_point="secret",
    )
    entry = sink.read_ledger(key_path)
    assert entry is not None and not entry.mirror_in_sync and entry.version == 2
    assert sink.verify(key_path)
    assert key_path in sink.list_paths()  # the audit's inventory of the prefix
    sink.remove(key_path, "soft-delete")
    sink.remove(key_path, "destroy")
    assert sink.read_ledger(key_path) is None


@pytest.mark.parametrize(
    ("path", "capability"),
    policy_capabilities(render_policy()),
    ids=[f"{p.split('/')[1] if '/' in p else p}-{c}" for p, c in policy_capabilities(render_policy())],
)
def test_each_missing_capability_is_stopped_by_the_preflight(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str, path: str, capability: str
) -> None:
    token = token_with(root_vault, without(render_policy(), path, capability))
    sink = VaultSink(environ={**vault_env, "VAULT_TOKEN": token})
    mode = "soft-delete" if "/delete/" in path else "destroy"
    with pytest.raises(VaultPermissionError) as caught:
        sink.preflight([key_path], delete_mode=mode, audit=True)
    message = str(caught.value)
    if path != "sys/capabilities-self":
        assert f"may not {capability} {path.replace('*', key_path)}" in message
    assert token not in message
    assert VaultSink(environ=os.environ).read_ledger(key_path) is None  # nothing changed
