"""Deleting a key never deletes DigitalOcean keys that another key's Vault ledger records: a key
moved to a new vault_path is adopted by the new resource before Pulumi deletes the old one. And
the shared DigitalOcean listing that deletes and adoptions read is handed to each caller as a copy."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest

from components.clients import ClientFactory
from components.config import DigitalOceanConfig, KeySpec, VaultConfig
from components.do_keys import ModelKey
from components.keys import KeyContext, KeyOperations, KeyState
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(
        emulator,
        openbao,
        tmp_path,
        [{"name": "chatbot", "vault_path": "apps/chatbot"}],
        f"guard/{tmp_path.name}",
    )


def operations(managed: Managed) -> KeyOperations:
    context = KeyContext("rot", VaultConfig(path_prefix=managed.prefix), DigitalOceanConfig())
    return KeyOperations(context, ClientFactory(managed.env))


def soft_deleted(vault: hvac.Client, full_path: str) -> bool:
    metadata = vault.secrets.kv.v2.read_secret_metadata(full_path, mount_point="secret")["data"]
    return bool(metadata["versions"][str(metadata["current_version"])]["deletion_time"])


@pytest.mark.parametrize("fresh_process", [False, True], ids=["same-process", "fresh-process"])
def test_keys_moved_to_a_new_vault_path_are_kept_also_when_the_delete_is_retried(
    managed: Managed, emulator: Emulator, root_vault: hvac.Client, fresh_process: bool
) -> None:
    ops = operations(managed)
    old, state = managed.specs["chatbot"], managed.states["chatbot"]
    # Another delete first, so that this process already holds the index when the key moves.
    ops.delete(KeySpec(name="unrelated", vault_path="apps/unrelated"), KeyState.from_dict({}))
    moved = KeySpec(name="chatbot", vault_path="apps/assistant")
    ops.create_or_adopt(moved)  # the new resource: same name, so the same DigitalOcean keys
    if fresh_process:
        ops.io.owners().forget()  # the index is rebuilt from Vault alone
    for _attempt in range(2):  # a retried delete (the first one's checkpoint lost) changes nothing more
        ops.delete(old, state)
        assert sorted(k.uuid for k in emulator.store.list()) == sorted(state.uuids)
    assert soft_deleted(root_vault, f"{managed.prefix}/apps/chatbot")  # the old path got on_delete
    secret, _entry = ops.vault.read_secret("apps/assistant")
    assert emulator.store.find_by_secret(secret.reveal()) is not None  # the new path's secret works


def test_only_the_keys_held_elsewhere_are_kept(managed: Managed, emulator: Emulator) -> None:
    ops = operations(managed)
    old, state = managed.specs["chatbot"], managed.states["chatbot"]
    other = KeySpec(
        name="other", vault_path="apps/other", strategy="in-place", adopt_uuids=(state.slot_a_uuid,)
    )
    ops.create_or_adopt(other)
    ops.delete(old, state)
    assert [k.uuid for k in emulator.store.list()] == [state.slot_a_uuid]


def test_keys_no_one_else_holds_are_deleted(managed: Managed, emulator: Emulator) -> None:
    operations(managed).delete(managed.specs["chatbot"], managed.states["chatbot"])
    assert len(emulator.store) == 0


def test_a_listing_handed_out_is_not_changed_by_later_updates(managed: Managed, emulator: Emulator) -> None:
    """Provider operations run on several threads: a listing one is iterating must stay as it was."""
    ops = operations(managed)
    listing = ops.io.listing().get()
    before = dict(listing)
    made = emulator.console_create("late-key")
    ops.io.listing().changed(ModelKey(made["uuid"], "late-key"))
    ops.io.listing().changed(removed=managed.states["chatbot"].slot_a_uuid)
    assert listing == before
    assert made["uuid"] in ops.io.listing().get()  # the cache itself did change
