"""The Vault sink against a real OpenBao: versions, ledger, check-and-set, deletes, outages."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests

from components.errors import (
    ConfigurationError,
    VaultConflictError,
    VaultError,
    VaultPermissionError,
    VaultUnavailableError,
)
from components.ledger import LEDGER_DATA_FIELD, Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from tests.conftest import start_openbao

PREFIX = "gradient-keys"


def ledger_for(secret: Secret, slot: str = "a", token: str | None = None) -> Ledger:
    return Ledger(
        fingerprint=secret.fingerprint,
        rotated_at="2026-11-25T10:00:00Z",
        slot_a="uuid-a",
        slot_b="uuid-b",
        active_slot=slot,
        rotation_token=token,
        stack="test",
    )


def current_version(root: hvac.Client, path: str) -> int:
    metadata = root.secrets.kv.v2.read_secret_metadata(f"{PREFIX}/{path}", mount_point="secret")
    return int(metadata["data"]["current_version"])


def test_write_then_read_ledger_without_the_secret(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    sink = VaultSink(environ=os.environ)
    assert sink.read_ledger(key_path) is None
    secret = Secret("sk-do-first-secret-value")
    entry = sink.write(key_path, secret, ledger_for(secret), expected_version=0)
    assert entry.version == 1 and entry.mirror_in_sync
    again = sink.read_ledger(key_path)
    assert again is not None and again.ledger == ledger_for(secret) and again.version == 1
    stored = root_vault.secrets.kv.v2.read_secret_version(
        f"{PREFIX}/{key_path}", mount_point="secret", raise_on_deleted_version=True
    )["data"]
    assert stored["data"]["api_key"] == "sk-do-first-secret-value"  # what consumers read
    custom = stored["metadata"]["custom_metadata"]
    assert custom["managed-by"] == "gradient-keys" and custom["fingerprint"] == secret.fingerprint
    assert custom["slot_a"] == "uuid-a" and custom["active_slot"] == "a" and custom["version"] == "1"


def test_ledger_read_costs_one_request(vault_env: dict[str, str], key_path: str) -> None:
    sink = VaultSink(environ=os.environ)
    secret = Secret("sk-do-one-request")
    sink.write(key_path, secret, ledger_for(secret), 0)
    before = sink.requests_made
    sink.read_ledger(key_path)
    assert sink.requests_made - before == 1


def test_versions_advance_and_identical_writes_make_none(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    sink = VaultSink(environ=os.environ)
    first, second = Secret("sk-do-v1"), Secret("sk-do-v2")
    sink.write(key_path, first, ledger_for(first), 0)
    assert sink.write(key_path, first, ledger_for(first), 1).version == 1  # no churn
    assert sink.write(key_path, second, ledger_for(second, slot="b"), 1).version == 2
    assert sink.write(key_path, second, ledger_for(second, slot="b"), 2).version == 2
    assert current_version(root_vault, key_path) == 2
    entry = sink.read_ledger(key_path)
    assert entry is not None and entry.ledger is not None and entry.ledger.active_slot == "b"


def test_stale_expected_version_is_a_conflict(vault_env: dict[str, str], key_path: str) -> None:
    sink = VaultSink(environ=os.environ)
    first, second, third = Secret("sk-do-1"), Secret("sk-do-2"), Secret("sk-do-3")
    sink.write(key_path, first, ledger_for(first), 0)
    sink.write(key_path, second, ledger_for(second), 1)
    with pytest.raises(VaultConflictError, match="re-read"):
        sink.write(key_path, third, ledger_for(third), 1)
    secret, entry = sink.read_secret(key_path)
    assert secret == second and entry.version == 2


def test_two_writers_race_and_the_older_never_wins(vault_env: dict[str, str], key_path: str) -> None:
    """Both read version 1 and write at once: exactly one lands; the other learns it lost."""
    base = Secret("sk-do-base")
    VaultSink(environ=os.environ).write(key_path, base, ledger_for(base), 0)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def writer(name: str) -> None:
        sink = VaultSink(environ=os.environ)
        secret = Secret(f"sk-do-writer-{name}")
        assert sink.read_ledger(key_path) is not None
        barrier.wait()
        try:
            sink.write(key_path, secret, ledger_for(secret), expected_version=1)
            outcomes[name] = "won"
        except VaultConflictError:
            outcomes[name] = "lost"

    for _round in range(5):
        threads = [threading.Thread(target=writer, args=(n,)) for n in ("x", "y")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if sorted(outcomes.values()) == ["lost", "won"]:
            break
    assert sorted(outcomes.values()) == ["lost", "won"]
    winner = next(n for n, o in outcomes.items() if o == "won")
    secret, entry = VaultSink(environ=os.environ).read_secret(key_path)
    assert secret == Secret(f"sk-do-writer-{winner}")
    assert entry.version == 2 and entry.ledger is not None and entry.ledger.fingerprint == secret.fingerprint


def test_a_stale_mirror_is_rebuilt_from_the_version(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    """A writer that died between its data write and its mirror write leaves nothing half-written."""
    sink = VaultSink(environ=os.environ)
    first, second = Secret("sk-do-before-crash"), Secret("sk-do-after-crash")
    sink.write(key_path, first, ledger_for(first), 0)
    # The dying writer's data write (secret + ledger in one version), and no mirror update:
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{PREFIX}/{key_path}",
        {"api_key": second.reveal(), LEDGER_DATA_FIELD: ledger_for(second, slot="b").to_data_field()},
        cas=1,
        mount_point="secret",
    )
    entry = sink.read_ledger(key_path)
    assert entry is not None and not entry.mirror_in_sync
    assert entry.version == 2 and entry.ledger == ledger_for(second, slot="b")
    repaired = sink.read_ledger(key_path)
    assert (
        repaired is not None and repaired.mirror_in_sync and repaired.ledger == ledger_for(second, slot="b")
    )


def test_verify_spots_a_secret_changed_outside_the_tool(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    sink = VaultSink(environ=os.environ)
    secret = Secret("sk-do-managed")
    sink.write(key_path, secret, ledger_for(secret), 0)
    assert sink.verify(key_path)
    root_vault.secrets.kv.v2.patch(
        f"{PREFIX}/{key_path}", {"api_key": "sk-do-edited-by-hand"}, mount_point="secret"
    )
    assert not sink.verify(key_path)


@pytest.mark.parametrize("mode", ["keep", "soft-delete", "destroy"])
def test_on_delete_modes(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str, mode: str
) -> None:
    sink = VaultSink(environ=os.environ)
    first, second = Secret("sk-do-old"), Secret("sk-do-new")
    sink.write(key_path, first, ledger_for(first), 0)
    sink.write(key_path, second, ledger_for(second), 1)
    sink.remove(key_path, mode)
    entry = sink.read_ledger(key_path)
    kv = root_vault.secrets.kv.v2
    full = f"{PREFIX}/{key_path}"
    if mode == "keep":
        assert entry is not None and not entry.deleted
    elif mode == "soft-delete":
        assert entry is not None and entry.deleted
        versions = kv.read_secret_metadata(full, mount_point="secret")["data"]["versions"]
        assert all(v["deletion_time"] for v in versions.values())  # every version, not just the last
        kv.undelete_secret_versions(full, versions=[2], mount_point="secret")  # recoverable
        assert sink.read_secret(key_path)[0] == second
    else:
        assert entry is None
        with pytest.raises(hvac.exceptions.InvalidPath):
            kv.read_secret_metadata(full, mount_point="secret")
    sink.remove(key_path, mode)  # removing again is harmless


def test_bad_paths_are_refused_before_any_call(vault_env: dict[str, str]) -> None:
    sink = VaultSink(environ=os.environ)
    before = sink.requests_made
    for bad in ("", "../escape", "apps//x", "apps/with space", "apps/%2e%2e"):
        with pytest.raises(ConfigurationError, match="not valid"):
            sink.read_ledger(bad)
    assert sink.requests_made == before


def test_permission_denied_without_a_policy(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    root_vault.sys.create_or_update_policy(
        "elsewhere", 'path "secret/data/other/*" { capabilities = ["create"] }'
    )
    token = root_vault.auth.token.create(policies=["elsewhere"], ttl="5m")["auth"]["client_token"]
    sink = VaultSink(environ={**vault_env, "VAULT_TOKEN": token})
    with pytest.raises(VaultPermissionError, match=rf"may not create secret/data/{PREFIX}/{key_path}"):
        sink.preflight([key_path])
    secret = Secret("sk-do-denied")
    with pytest.raises(VaultPermissionError, match="permission denied"):
        sink.write(key_path, secret, ledger_for(secret), 0)
    assert VaultSink(environ=os.environ).read_ledger(key_path) is None


def test_sealed_mid_run_is_retried_then_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_openbao(tmp_path)
    try:
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token}
        sink = VaultSink(environ=env, sleep=lambda _s: None)
        first, second = Secret("sk-do-before-seal"), Secret("sk-do-during-seal")
        sink.write("apps/a", first, ledger_for(first), 0)
        root = hvac.Client(url=server.address, token=server.root_token)
        root.sys.seal()
        with pytest.raises(VaultUnavailableError, match="sealed") as caught:
            sink.write("apps/a", second, ledger_for(second), 1)
        assert "nothing was changed" in str(caught.value)
        root.sys.submit_unseal_key(server.unseal_key)
        secret, entry = sink.read_secret("apps/a")
        assert secret == first and entry.version == 1  # nothing half-written

        # Sealed for one attempt only: the retry carries the write through.
        root.sys.seal()
        unseal = lambda _s: root.sys.submit_unseal_key(server.unseal_key)  # noqa: E731
        patient = VaultSink(environ=env, sleep=unseal)
        assert patient.write("apps/a", second, ledger_for(second), 1).version == 2
    finally:
        server.stop()


def test_server_stopped_mid_run(tmp_path: Path) -> None:
    server: OpenBaoServer = start_openbao(tmp_path)
    sink = VaultSink(
        environ={"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token}, sleep=lambda _s: None
    )
    secret = Secret("sk-do-never-stored")
    server.stop()
    with pytest.raises(VaultUnavailableError, match="unreachable") as caught:
        sink.write("apps/a", secret, ledger_for(secret), 0)
    assert server.address in str(caught.value)


def test_a_mirror_edited_by_hand_is_rebuilt_and_operator_keys_kept(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    sink = VaultSink(environ=os.environ)
    secret = Secret("sk-do-x")
    sink.write(key_path, secret, ledger_for(secret), 0)
    full = f"{PREFIX}/{key_path}"
    kv = root_vault.secrets.kv.v2
    kv.update_metadata(
        full,
        custom_metadata={"managed-by": "gradient-keys", "version": "one", "owner": "team-x"},
        delete_version_after="720h",
        mount_point="secret",
    )
    entry = sink.read_ledger(key_path)
    assert entry is not None and entry.ledger == ledger_for(secret)  # rebuilt from the version
    second = Secret("sk-do-y")
    sink.write(key_path, second, ledger_for(second, slot="b"), 1)
    metadata = kv.read_secret_metadata(full, mount_point="secret")["data"]
    assert metadata["custom_metadata"]["owner"] == "team-x"  # an operator's key survives the mirror
    assert metadata["custom_metadata"]["version"] == "2"
    assert metadata["delete_version_after"] == "720h0m0s"  # and so does their retention setting


def test_a_write_whose_answer_was_lost_is_not_a_conflict(
    vault_env: dict[str, str], key_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write commits, the answer is lost, the retry loses check-and-set to itself: success."""
    sink = VaultSink(environ=os.environ, sleep=lambda _s: None)
    real = sink._kv.create_or_update_secret
    calls: list[int] = []

    def commit_then_drop(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise requests.ConnectionError("answer lost")
        return result

    monkeypatch.setattr(sink._kv, "create_or_update_secret", commit_then_drop)
    secret = Secret("sk-do-lost-answer")
    entry = sink.write(key_path, secret, ledger_for(secret), 0)
    assert entry.version == 1 and entry.ledger == ledger_for(secret)


def test_a_misspelled_mount_is_a_clear_error(vault_env: dict[str, str], key_path: str) -> None:
    sink = VaultSink(mount="secrt", environ=os.environ)
    assert sink.read_ledger(key_path) is None
    secret = Secret("sk-do-nowhere")
    with pytest.raises(VaultError, match="is KV v2 enabled at this mount"):
        sink.write(key_path, secret, ledger_for(secret), 0)
