"""A KV path with `delete_version_after` gives each version its deletion time when it is written:
a deletion time still to come is not a deletion (the key's secret is live, and a soft-delete must
still delete it)."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import hvac
import pytest

from components.vault_sink import VaultSink, vault_time
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/dva-{tmp_path.name[-8:]}")


def scheduled(managed: Managed, root_vault: hvac.Client) -> VaultSink:
    """The key's path with versions deleted a day after they are written, and one such version."""
    full = f"{managed.prefix}/apps/chatbot"
    root_vault.secrets.kv.v2.update_metadata(full, delete_version_after="24h", mount_point="secret")
    sink = managed.sink()
    secret, entry = sink.read_secret("apps/chatbot")
    assert entry.ledger is not None
    sink.write("apps/chatbot", secret, dataclasses.replace(entry.ledger, rotation_token="t2"), entry.version)
    metadata = root_vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]
    newest = metadata["versions"][str(metadata["current_version"])]
    assert newest["deletion_time"], metadata  # Vault set it, in the future
    return sink


def test_a_deletion_time_to_come_is_not_a_deleted_secret(managed: Managed, root_vault: hvac.Client) -> None:
    sink = scheduled(managed, root_vault)
    entry = sink.read_ledger("apps/chatbot")
    assert entry is not None and not entry.deleted
    code, report, err = managed.audit()
    assert code == 0 and not [f for f in report["findings"] if f["id"] == "vault-entry-missing"], err


def test_a_soft_delete_still_deletes_versions_scheduled_for_later(
    managed: Managed, root_vault: hvac.Client
) -> None:
    sink = scheduled(managed, root_vault)
    sink.remove("apps/chatbot", "soft-delete")
    full = f"{managed.prefix}/apps/chatbot"
    versions = root_vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]["versions"]
    now = datetime.datetime.now(datetime.UTC)
    for info in versions.values():  # every version's deletion time is now past: deleted, not scheduled
        moment = vault_time(info["deletion_time"])
        assert moment is not None and moment <= now, versions
