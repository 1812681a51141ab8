"""The stack's policies in `gradient-keys audit`: each rule a finding, in both modes, against
keys the core really manages in the emulator and a real OpenBao (a token holding only the
generated policy); the declared owner in the key's Vault metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml

from components.policy_config import Mode
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "30d"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "rotate_every": "30d"},
]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/pol-{tmp_path.name[-8:]}")


def declare(managed: Managed, policies: dict[str, Any] | None = None, **keys: dict[str, Any]) -> None:
    document = yaml.safe_load(managed.stack_file.read_text())
    config = document["config"]
    if policies is not None:
        config["gradient-keys:policies"] = policies
    for declared in config["gradient-keys:keys"]:
        declared.update(keys.get(declared["name"], {}))
    managed.stack_file.write_text(yaml.safe_dump(document))


def audit(managed: Managed, *args: str) -> tuple[int, dict[tuple[str, str | None], dict[str, Any]]]:
    code, document, err = managed.audit(*args)
    assert document, err
    return code, {(f["id"], f["key"]): f for f in document["findings"]}


def age(managed: Managed, path: str, rotated_at: str) -> None:
    sink = managed.sink()
    secret, entry = sink.read_secret(path)
    assert entry.ledger is not None
    sink.write(path, secret, dataclasses.replace(entry.ledger, rotated_at=rotated_at), entry.version)


@pytest.mark.parametrize("mode", list(Mode))
def test_each_rule_is_a_finding_in_its_mode(managed: Managed, mode: Mode) -> None:
    written = str(mode)  # as the stack file spells it
    declare(
        managed,
        {
            "max_key_age": {"max": "40d", "mode": written},
            "key_name": {"pattern": "^[a-z]+-slot-[ab]$", "mode": written},
            "owner": {"mode": written},
            "rotate_every": {"min": "31d", "mode": written},
            "in_place": {"mode": written},
        },
        chatbot={"owner": "chat-team"},
    )
    managed.operations().set_owner(managed.settings().keys[0])  # what `pulumi up` writes
    age(managed, "apps/chatbot", "2026-01-01T00:00:00Z")
    code, found = audit(managed, "--fail-on", "high")
    policy = {key for key in found if key[0].startswith("policy-")}
    assert policy == {
        ("policy-max-key-age", "chatbot"),  # its secret, minted 2026-01-01
        ("policy-key-name", "batch"),  # an in-place key is named as declared: batch
        ("policy-owner", "batch"),
        ("policy-rotate-every", "chatbot"),
        ("policy-rotate-every", "batch"),
        ("policy-in-place", "batch"),
    }
    expected = "high" if mode is Mode.FAIL else "low"
    assert {found[key]["severity"] for key in policy} == {expected}
    assert code == (1 if mode is Mode.FAIL else 0)  # with no other high finding
    aged = found[("policy-max-key-age", "chatbot")]
    assert aged["message"].startswith("key 'chatbot' holds a secret minted 2026-01-01T00:00:00Z, ")
    assert aged["message"].endswith("older than max_key_age 40d") and aged["vault_path"] == "apps/chatbot"
    assert found[("policy-in-place", "batch")]["fix"].startswith("use strategy: dual-slot (zero downtime)")


def test_exceptions_and_rules_met_give_no_finding(managed: Managed) -> None:
    declare(
        managed,
        {
            "max_key_age": {"max": "40d"},
            "key_name": {"pattern": "^(chatbot-slot-[ab]|batch)$"},
            "rotate_every": {"min": "1d", "max": "30d"},
            "in_place": {},
        },
        batch={"allow_in_place": True},
    )
    code, found = audit(managed, "--fail-on", "low")
    assert code == 0 and found == {}


def test_the_declared_owner_lands_in_vault_metadata(
    managed: Managed, emulator: Emulator, root_vault: hvac.Client
) -> None:
    """Written beside the ledger mirror, kept by rotations, reported when it drifts; an owner an
    operator wrote by hand on an undeclared key is left alone."""
    metadata_path = f"{managed.prefix}/apps/chatbot"

    def custom() -> dict[str, str]:
        read = root_vault.secrets.kv.v2.read_secret_metadata(metadata_path, mount_point="secret")
        return dict(read["data"]["custom_metadata"] or {})

    declare(managed, chatbot={"owner": "chat-team"})
    code, found = audit(managed)
    assert ("owner-drift", "chatbot") in found and code == 0
    assert found[("owner-drift", "chatbot")]["message"] == (
        "the key's Vault metadata names owner none, but the stack declares 'chat-team'"
    )
    spec = managed.settings().keys[0]
    managed.operations().set_owner(spec)
    assert custom()["owner"] == "chat-team" and custom()["managed-by"] == "gradient-keys"
    _code, found = audit(managed)
    assert ("owner-drift", "chatbot") not in found

    code, _document, err = managed.rotate("chatbot")
    assert code == 0, err
    assert custom()["owner"] == "chat-team" and custom()["version"] == "2"

    root_vault.secrets.kv.v2.update_metadata(
        metadata_path, custom_metadata={**custom(), "owner": "someone-else"}, mount_point="secret"
    )
    _code, found = audit(managed)
    assert "names owner 'someone-else'" in found[("owner-drift", "chatbot")]["message"]

    # batch declares no owner: an operator's label on it is theirs
    batch_path = f"{managed.prefix}/apps/batch"
    read = root_vault.secrets.kv.v2.read_secret_metadata(batch_path, mount_point="secret")
    labelled = {**read["data"]["custom_metadata"], "owner": "ops"}
    root_vault.secrets.kv.v2.update_metadata(batch_path, custom_metadata=labelled, mount_point="secret")
    _code, found = audit(managed)
    assert ("owner-drift", "batch") not in found
