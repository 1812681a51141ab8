"""Rotations that meet each other: the provider and the command, two rotators, partial failures.
Each case is built for real against the emulator and OpenBao."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import hvac
import pytest
import yaml

from components.keys import KeyOperations, RotationFailedError
from components.ledger import LEDGER_DATA_FIELD
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import Managed, manage

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/race-{tmp_path.name[-8:]}")


def ops_for(managed: Managed, monkeypatch: pytest.MonkeyPatch) -> KeyOperations:
    managed.use_env(monkeypatch)
    return managed.operations(vault=managed.sink())


def test_a_rotation_planned_before_another_rotator_acted_is_skipped(
    managed: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(managed, monkeypatch)
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    ops.rotate(spec, state)  # another rotator moves the key on (Vault version 2)
    consumers_have = managed.sink().read_secret("apps/chatbot")[0]
    from components.keys import RotationSkipped

    with pytest.raises(RotationSkipped, match="rotated meanwhile"):
        ops.rotate(spec, state, expected_version=state.vault_version)  # planned against version 1
    assert works(emulator, consumers_have.reveal())


def test_a_racer_whose_regenerate_came_first_does_not_store_its_dead_secret(
    managed: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(managed, monkeypatch)
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    sink = managed.sink()
    entry = sink.read_ledger("apps/chatbot")
    assert entry is not None and entry.ledger is not None
    mine = ops.do.regenerate(state.slot_b_uuid).secret  # racer A regenerates slot b...
    ops.rotate(spec, state)  # ...racer B rotates completely (regenerating slot b after A)
    stale = dataclasses.replace(entry.ledger, fingerprint=mine.fingerprint, active_slot="b")
    kept = ops.io.write(spec, mine, stale, expected=entry, regenerated_slot="b")  # A's late write
    current = sink.read_secret("apps/chatbot")[0]
    assert kept.version == 2 and works(emulator, current.reveal()) and not works(emulator, mine.reveal())


def test_emergency_stores_the_active_secret_before_touching_the_other_slot(
    managed: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(managed, monkeypatch)
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    emulator.store.delete(state.slot_b_uuid)  # the second regenerate will fail
    with pytest.raises(RotationFailedError, match="Vault holds a new secret, but slot b"):
        ops.rotate(spec, state, emergency=True)
    assert works(emulator, managed.sink().read_secret("apps/chatbot")[0].reveal())


def test_a_preview_writes_nothing(
    managed: Managed, root_vault: hvac.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = ops_for(managed, monkeypatch)
    secret, entry = managed.sink().read_secret("apps/chatbot")
    assert entry.ledger is not None
    full = f"{managed.prefix}/apps/chatbot"
    root_vault.secrets.kv.v2.create_or_update_secret(
        full,
        {"api_key": secret.reveal(), LEDGER_DATA_FIELD: entry.ledger.to_data_field()},
        mount_point="secret",
    )  # a stale mirror, which ordinary reads repair
    before = root_vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"][
        "custom_metadata"
    ]
    ops.pending_rotation(managed.specs["chatbot"])  # what the provider's check runs during a preview
    after = root_vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"][
        "custom_metadata"
    ]
    assert after == before


def test_a_key_not_deployed_yet_does_not_hold_runs_open(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    managed = manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/open-{tmp_path.name[-8:]}")
    document = yaml.safe_load(managed.stack_file.read_text())
    document["config"]["gradient-keys:keys"].append({"name": "newcomer", "vault_path": "apps/new"})
    managed.stack_file.write_text(yaml.safe_dump(document))
    code, first, _err = managed.rotate("--all")
    assert code == 1 and {k["key"]: k["status"] for k in first["keys"]} == {
        "chatbot": "rotated",
        "newcomer": "failed",
    }
    code, second, _err = managed.rotate("--all", "--force")  # --force: chatbot was rotated seconds ago
    assert second["resumed"] is False and second["run_id"] != first["run_id"]
    assert {k["key"]: k["status"] for k in second["keys"]}["chatbot"] == "rotated"


def test_rotate_without_a_token_is_a_usage_error(managed: Managed) -> None:
    managed.env["DIGITALOCEAN_TOKEN"] = ""
    code, _document, err = managed.rotate("--due")
    assert code == 2 and "DIGITALOCEAN_TOKEN is not set" in err


def test_audit_verify_reports_an_entry_without_api_key(managed: Managed, root_vault: hvac.Client) -> None:
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{managed.prefix}/apps/chatbot", {"token": "something else"}, mount_point="secret"
    )
    code, document, _err = managed.audit("--verify-secrets")
    assert code == 1 and ("secret-changed-outside", "chatbot") in {
        (f["id"], f["key"]) for f in document["findings"]
    }
