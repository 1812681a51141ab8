"""The program end to end: its resources routed into the real provider process, against the
sandbox emulator and a real OpenBao. A first run creates (adopting control-panel keys); a second
run renames one key, rotates another and deletes a third."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import hvac
import pytest

from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import environment
from tests.program.harness import run_program
from tests.provider.harness import ProviderProcess

PREFIX = "gradient-keys/e2e"
RUN_1: dict[str, Any] = {
    "vault": {"path_prefix": PREFIX},
    "keys": [
        {"name": "chatbot", "vault_path": "apps/chatbot"},
        {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place"},
        {"name": "legacy-app", "vault_path": "apps/legacy", "strategy": "in-place", "on_delete": "destroy"},
    ],
}


@pytest.fixture
def provider(
    emulator: Emulator, openbao: OpenBaoServer, root_vault: hvac.Client, tmp_path: Any
) -> Iterator[ProviderProcess]:
    for path in ("apps/chatbot", "apps/batch", "apps/legacy"):
        root_vault.secrets.kv.v2.delete_metadata_and_all_versions(f"{PREFIX}/{path}", mount_point="secret")
    process = ProviderProcess(environment(emulator, openbao, tmp_path))
    yield process
    process.close()


def vault(openbao: OpenBaoServer) -> VaultSink:
    return VaultSink(path_prefix=PREFIX, environ=openbao.environment())


def test_create_then_rename_rotate_and_delete(
    provider: ProviderProcess, emulator: Emulator, openbao: OpenBaoServer
) -> None:
    for name in ("chatbot-slot-a", "chatbot-slot-b", "batch", "legacy-app"):
        emulator.console_create(name)
    state: dict[str, Any] = {}

    first, _ = run_program(RUN_1, provider, state)
    assert sorted(first.operations) == [
        ("create", "apps/batch"),
        ("create", "apps/chatbot"),
        ("create", "apps/legacy"),
    ]
    sink = vault(openbao)
    batch_before = sink.read_secret("apps/batch")[0]
    assert works(emulator, sink.read_secret("apps/chatbot")[0].reveal()) and works(
        emulator, batch_before.reveal()
    )

    same, _ = run_program(RUN_1, provider, state)
    assert sorted(op for op, _name in same.operations) == ["same", "same", "same"]

    run_2 = copy.deepcopy(RUN_1)
    run_2["keys"][0]["name"] = "assistant"  # rename
    run_2["keys"][1]["rotation_token"] = "incident-42"  # rotate once
    del run_2["keys"][2]  # delete
    second, _ = run_program(run_2, provider, state)
    assert sorted(second.operations) == [
        ("delete", "apps/legacy"),
        ("update", "apps/batch"),
        ("update", "apps/chatbot"),
    ]
    names = sorted(k.name for k in emulator.store.list())
    assert names == ["assistant-slot-a", "assistant-slot-b", "batch"]
    batch_after = sink.read_secret("apps/batch")[0]
    assert batch_after != batch_before and works(emulator, batch_after.reveal())
    assert not works(emulator, batch_before.reveal())  # in-place: the old secret died at once
    assert sink.read_ledger("apps/legacy") is None  # on_delete: destroy

    third, _ = run_program(run_2, provider, state)
    assert sorted(op for op, _name in third.operations) == ["same", "same"]  # the token rotates once
