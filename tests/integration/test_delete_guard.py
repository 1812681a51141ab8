"""Deleting a key never deletes DigitalOcean keys that now serve another declaration (a key moved
to a new vault_path is adopted by the new resource before the old one is deleted), and stops,
changing nothing, when it cannot tell."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest

from components.config import DigitalOceanConfig, VaultConfig
from components.errors import UnavailableError
from components.keys import KeyContext, KeyOperations
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage


@pytest.fixture
def ops_env(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[KeyOperations, Managed]:
    managed = manage(
        emulator,
        openbao,
        tmp_path,
        [{"name": "chatbot", "vault_path": "apps/chatbot"}],
        f"guard/{tmp_path.name}",
    )
    for name, value in managed.env.items():
        monkeypatch.setenv(name, value)
    ops = KeyOperations(KeyContext("rot", VaultConfig(path_prefix=managed.prefix), DigitalOceanConfig()))
    return ops, managed


def test_keys_whose_secret_was_regenerated_elsewhere_are_kept(
    ops_env: tuple[KeyOperations, Managed], emulator: Emulator, root_vault: hvac.Client
) -> None:
    ops, managed = ops_env
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    for uuid in state.uuids:  # what a new declaration adopting the same keys does
        emulator.store.regenerate(uuid)
    ops.delete(spec, state)
    assert sorted(k.uuid for k in emulator.store.list()) == sorted(state.uuids)
    path = f"{managed.prefix}/apps/chatbot"
    metadata = root_vault.secrets.kv.v2.read_secret_metadata(path, mount_point="secret")["data"]
    assert metadata["versions"][str(metadata["current_version"])]["deletion_time"]  # on_delete applied


def test_an_unanswering_inference_endpoint_stops_the_delete(
    ops_env: tuple[KeyOperations, Managed], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, managed = ops_env
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    emulator.inject(operation="models", kind="error", status=503, times=10)
    with pytest.raises(UnavailableError, match="nothing was deleted"):
        ops.delete(spec, state)
    assert len(emulator.store) == 2
    emulator.faults.clear()
    ops.delete(spec, state)  # the secret Vault holds works: the keys are this key's own
    assert len(emulator.store) == 0
