"""The provider rotates against the Vault version it checked: a command rotation between its
check and its rotation is seen and not repeated (issue 12, defect 4)."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest

from components.keys import KeyOperations, KeyState
from components.provider import ModelKeyProvider, _outputs, inputs_for
from components.run_lease import PROCESS_RUN_ID, shared_lease
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import Managed, manage, regenerations

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/race-{tmp_path.name[-8:]}")


def test_a_rotation_between_check_and_rotate_is_not_repeated(
    managed: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    managed.use_env(monkeypatch)
    context = managed.context()
    spec = managed.settings().keys[0]
    olds = _outputs(inputs_for(spec, context), managed.states["chatbot"])
    news = {
        **inputs_for(dataclasses.replace(spec, rotation_token="t2"), context),
        "pending_rotation": "token",
    }
    raced: list[int] = []
    original = KeyOperations.rotate

    def command_rotates_first(self: KeyOperations, spec: Any, state: KeyState, **options: Any) -> KeyState:
        # The provider has checked the ledger and decided to rotate; another rotator gets in first.
        # (A `gradient-keys rotate` run cannot any more: the provider holds the stack's lease. This
        # is the guard behind it, for any writer that slips through.)
        other = managed.operations()
        original(other, spec, managed.states["chatbot"])
        raced.append(managed.sink().read_ledger("apps/chatbot").version)  # type: ignore[union-attr]
        return original(self, spec, state, **options)

    monkeypatch.setattr(KeyOperations, "rotate", command_rotates_first)
    sink = managed.sink()
    before = regenerations(emulator)
    ModelKeyProvider().update("apps/chatbot", olds, news)
    assert raced, "the provider should have decided to rotate"
    after = regenerations(emulator)
    assert sum(after.values()) - sum(before.values()) == 1  # the other rotator's only
    _secret, entry = sink.read_secret("apps/chatbot")
    assert entry.version == raced[0]  # what the other rotator wrote is still current


def test_a_writer_storing_the_same_secret_again_does_not_make_a_rotation_already_done(
    managed: Managed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a new secret means someone else rotated; a new Vault version of the same one does not
    (issue 12, defect 7)."""
    managed.use_env(monkeypatch)
    ops = managed.operations()
    spec = managed.settings().keys[0]
    sink = managed.sink()
    secret, entry = sink.read_secret("apps/chatbot")
    planned = ops.state_from_ledger(spec, entry)
    assert planned is not None and entry.ledger is not None
    # A re-store by another run: the same secret and slot, a new Vault version.
    sink.write("apps/chatbot", secret, dataclasses.replace(entry.ledger, run_id="other-run"), entry.version)
    rotated = ops.rotate(spec, planned, expected_version=planned.vault_version)
    assert rotated.fingerprint != planned.fingerprint and rotated.vault_version == entry.version + 2


def test_the_command_waits_for_the_providers_lease(managed: Managed, emulator: Emulator) -> None:
    """While `pulumi up` rotates keys of the stack, a `gradient-keys rotate` run does not start."""
    sink = managed.sink()
    with shared_lease(
        sink, managed.settings().stack, clock=lambda: datetime.datetime.now(datetime.UTC), wait_seconds=0
    ):
        before = regenerations(emulator)
        code, _document, err = managed.rotate("--all", "--wait", "0")
        assert code == 1 and f"another rotation run ({PROCESS_RUN_ID}" in err
        assert regenerations(emulator) == before
    code, document, err = managed.rotate("--all", "--wait", "0")  # released: the next run goes ahead
    assert code == 0 and document["keys"][0]["status"] == "rotated", err


def test_an_update_planned_before_a_command_rotation_does_not_rotate_again(
    managed: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulumi up` checks (a new rotation_token: due), then `gradient-keys rotate --all` rotates the
    key, then the update runs: the key already has a new secret since the check, so the update does
    not rotate it again and the secret consumers held before both still works (issue 12, defect 4)."""
    managed.use_env(monkeypatch)
    context = managed.context()
    spec = managed.settings().keys[0]
    held = managed.sink().read_secret("apps/chatbot")[0].reveal()
    olds = _outputs(inputs_for(spec, context), managed.states["chatbot"])
    declared = inputs_for(dataclasses.replace(spec, rotation_token="t2"), context)
    provider = ModelKeyProvider()
    news = provider.check(olds, declared).inputs
    assert news["pending_rotation"] and news["rotation_basis"]
    code, _document, err = managed.rotate("--all")
    assert code == 0, err
    before = regenerations(emulator)
    provider.update("apps/chatbot", olds, news)
    assert regenerations(emulator) == before
    assert works(emulator, held)
