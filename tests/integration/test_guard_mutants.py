"""The guards that keep a dead secret out of Vault and a live key out of a delete (issue 11).

Each test here stands for one promise and fails when the guard behind it is replaced by a
constant: verify-before-flip in `rotate` (only for normal dual-slot rotations: an emergency and an
in-place rotation store at once), the check-and-set conflict rule (the newer of two racing secrets
wins), and delete's ownership guards (DigitalOcean keys and Vault paths that now belong to another
key are left alone, and everything else gets `on_delete`). All run against the emulator over HTTP
and a real OpenBao; the inference endpoint is the emulator's, told to refuse keys with a fault.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from components.config import KeySpec
from components.errors import VaultError
from components.inference_check import key_works
from components.keys import KeyOperations, KeyState, RotationFailedError
from components.secret import Secret
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import Managed, manage

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot"},
    {"name": "legacy", "vault_path": "apps/legacy", "strategy": "in-place"},
]
WAIT_SECONDS = 30.0


@pytest.fixture
def managed(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Managed:
    made = manage(emulator, openbao, tmp_path, KEYS, prefix=f"guards/{tmp_path.name}")
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    return made


def operations(managed: Managed, verify: Callable[[Secret], bool] | None = None) -> KeyOperations:
    """The core as the command builds it; without `verify`, new secrets are checked against the
    inference endpoint in DIGITALOCEAN_INFERENCE_URL (the emulator), exactly as in production."""
    return managed.operations(vault=managed.sink(), verify=verify)


def one_check(emulator: Emulator) -> Callable[[Secret], bool]:
    """One call to the emulator's inference endpoint: does it accept this secret now?"""
    return lambda secret: key_works(emulator.base_url, secret, attempts=1)


def refuse_every_key(emulator: Emulator) -> None:
    """The inference endpoint answers 401 to every check (more than verification's retries)."""
    emulator.inject(operation="models", kind="error", status=401, times=50)


def in_vault(managed: Managed, path: str) -> tuple[Secret, int, str]:
    """The secret consumers read now, its Vault version and the slot the ledger calls active."""
    secret, entry = managed.sink().read_secret(path)
    assert entry.ledger is not None
    return secret, entry.version, entry.ledger.active_slot


# -- verify-before-flip in rotate ------------------------------------------------------------------
def test_a_dual_slot_secret_the_inference_endpoint_refuses_never_reaches_vault(
    managed: Managed, emulator: Emulator
) -> None:
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    before = in_vault(managed, "apps/chatbot")
    refuse_every_key(emulator)
    with pytest.raises(RotationFailedError, match="Vault is unchanged"):
        operations(managed).rotate(spec, state)
    emulator.faults.clear()
    assert in_vault(managed, "apps/chatbot") == before  # same secret, same version, slot a still active
    assert works(emulator, before[0])  # consumers keep the active slot


def test_an_emergency_stores_the_new_secret_at_once_even_if_the_inference_endpoint_refuses_it(
    managed: Managed, emulator: Emulator
) -> None:
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    leaked, version, _slot = in_vault(managed, "apps/chatbot")
    refuse_every_key(emulator)
    operations(managed).rotate(spec, state, emergency=True)
    emulator.faults.clear()
    secret, new_version, active = in_vault(managed, "apps/chatbot")
    # The active slot, regenerated and stored at once; a second version records the other slot done.
    assert (new_version, active) == (version + 2, "a")
    assert works(emulator, secret) and not works(emulator, leaked)


def test_an_in_place_rotation_stores_the_new_secret_even_if_the_inference_endpoint_refuses_it(
    managed: Managed, emulator: Emulator
) -> None:
    """In place, the regenerate has already killed the old secret: holding the new one back would
    leave Vault with a dead secret and lose the only live one (docs/rotation.md: regenerate and write)."""
    spec, state = managed.specs["legacy"], managed.states["legacy"]
    old, version, _slot = in_vault(managed, "apps/legacy")
    refuse_every_key(emulator)
    operations(managed).rotate(spec, state)
    emulator.faults.clear()
    secret, new_version, _slot = in_vault(managed, "apps/legacy")
    assert new_version == version + 1
    assert works(emulator, secret) and not works(emulator, old)


# -- two rotators racing: the newer secret wins ----------------------------------------------------
def test_a_racer_whose_regenerate_came_last_keeps_its_secret_in_vault(
    managed: Managed, emulator: Emulator
) -> None:
    """We regenerate slot b; a racer regenerates it again (ours dies) and stores first: Vault keeps
    the racer's live secret, and our dead one is not written over it."""
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    racer = operations(managed, verify=one_check(emulator))
    raced: list[KeyState] = []

    def check_then_race(secret: Secret) -> bool:
        verdict = key_works(emulator.base_url, secret, attempts=1)
        if not raced:  # between our check and our write, the racer rotates the same slot
            raced.append(racer.rotate(spec, state))
        return verdict

    ours = operations(managed, verify=check_then_race).rotate(spec, state)
    secret, version, active = in_vault(managed, "apps/chatbot")
    assert version == raced[0].vault_version == ours.vault_version == 2  # nothing written after the racer
    assert active == "b" and works(emulator, secret)


def test_a_racer_that_stored_a_secret_our_regenerate_replaced_is_overwritten_with_ours(
    managed: Managed, emulator: Emulator
) -> None:
    """A racer regenerates slot b and passes its check; we regenerate slot b again (the racer's
    secret dies); the racer stores first. Vault must end with our secret, the live one."""
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    ours_minted, racer_stored = threading.Event(), threading.Event()
    pending: list[Future[KeyState]] = []

    def ours_check(secret: Secret) -> bool:
        verdict = key_works(emulator.base_url, secret, attempts=1)
        if not ours_minted.is_set():
            ours_minted.set()
            assert racer_stored.wait(WAIT_SECONDS), "the racer never stored its secret"
        return verdict

    with ThreadPoolExecutor(max_workers=1) as pool:

        def racer_check(secret: Secret) -> bool:
            verdict = key_works(emulator.base_url, secret, attempts=1)  # still alive: checked, passes
            if not pending:
                pending.append(pool.submit(operations(managed, verify=ours_check).rotate, spec, state))
            assert ours_minted.wait(WAIT_SECONDS), "our rotation never regenerated slot b"
            return verdict

        try:
            racer = operations(managed, verify=racer_check).rotate(spec, state)
        finally:
            racer_stored.set()
        ours = pending[0].result(timeout=WAIT_SECONDS)
    assert racer.vault_version == 2
    dead, _ledger = managed.sink().read_version("apps/chatbot", 2)
    secret, version, active = in_vault(managed, "apps/chatbot")
    assert version == ours.vault_version == 3 and active == "b"
    assert works(emulator, secret) and not works(emulator, dead)


# -- delete's ownership guards -------------------------------------------------------------------
def test_a_digitalocean_key_another_ledger_records_survives_the_delete(
    managed: Managed, emulator: Emulator
) -> None:
    ops = operations(managed)
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    sharer = KeySpec(
        name="sharer", vault_path="apps/sharer", strategy="in-place", adopt_uuids=(state.slot_b_uuid,)
    )
    ops.create_or_adopt(sharer)
    ops.delete(spec, state)
    remaining = {k.uuid for k in emulator.store.list()}
    assert state.slot_b_uuid in remaining and state.slot_a_uuid not in remaining
    secret, _version, _slot = in_vault(managed, "apps/sharer")
    assert works(emulator, secret)


def test_a_vault_path_a_replacement_took_over_keeps_its_secret_when_the_old_key_is_deleted(
    managed: Managed, emulator: Emulator
) -> None:
    """A key renamed in place (same vault_path, new DigitalOcean keys): Pulumi creates the
    replacement, which writes the path, then deletes the old resource."""
    ops = operations(managed)
    old, state = managed.specs["chatbot"], managed.states["chatbot"]
    replacement = KeySpec(name="chatbot-v2", vault_path="apps/chatbot")
    for name in replacement.slot_names:
        emulator.console_create(name)
    new_state = ops.create_or_adopt(replacement)
    ops.delete(old, state)
    remaining = {k.uuid for k in emulator.store.list()}
    assert remaining.isdisjoint(state.uuids) and set(new_state.uuids) <= remaining
    secret, version, _slot = in_vault(managed, "apps/chatbot")  # not soft-deleted, not destroyed
    assert version == new_state.vault_version and works(emulator, secret)


@pytest.mark.parametrize("on_delete", ["soft-delete", "destroy"])
def test_deleting_a_key_no_one_else_holds_applies_on_delete_to_its_vault_path(
    managed: Managed, emulator: Emulator, on_delete: str
) -> None:
    state = managed.states["chatbot"]
    spec = KeySpec(name="chatbot", vault_path="apps/chatbot", on_delete=on_delete)
    operations(managed).delete(spec, state)
    assert emulator.store.get(state.slot_a_uuid) is None and emulator.store.get(state.slot_b_uuid) is None
    entry = managed.sink().read_ledger("apps/chatbot")
    if on_delete == "destroy":
        assert entry is None
    else:
        assert entry is not None and entry.deleted
    with pytest.raises(VaultError, match="no current secret"):
        managed.sink().read_secret("apps/chatbot")
    assert works(emulator, in_vault(managed, "apps/legacy")[0])  # the other key is untouched
