"""A regenerate whose answer is lost may commit later. A dual-slot rotation does not retry it (a
retry's secret would die when the lost request lands): Vault stays as it was, consumers keep the
active slot, the run fails clearly and the next one rotates (issue 12, defect 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import Managed, manage, regenerations

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place"},
]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/late-{tmp_path.name[-8:]}")


def test_a_lost_regenerate_of_the_unused_slot_is_not_retried(managed: Managed, emulator: Emulator) -> None:
    sink = managed.sink()
    held, entry = sink.read_secret("apps/chatbot")
    before = regenerations(emulator)
    emulator.inject(operation="regenerate", kind="drop_after_commit")  # commits, the answer is lost
    code, document, _err = managed.rotate("chatbot")
    outcome = document["keys"][0]
    assert code == 1 and outcome["status"] == "failed" and "may still commit later" in outcome["detail"]
    assert "consumers keep slot a" in outcome["detail"]
    after = regenerations(emulator)
    assert after["chatbot-slot-b"] == before["chatbot-slot-b"] + 1  # once: no retry
    assert sink.read_secret("apps/chatbot")[1].version == entry.version and works(emulator, held.reveal())
    code, document, err = managed.rotate("chatbot")  # the resume rotates, against a settled key
    assert code == 0 and document["keys"][0]["status"] == "rotated", err
    assert works(emulator, sink.read_secret("apps/chatbot")[0].reveal()) and works(emulator, held.reveal())


def test_an_in_place_rotation_still_recovers_a_lost_answer(managed: Managed, emulator: Emulator) -> None:
    """In place, the stored secret is already dead: the only way back is a known, current one."""
    emulator.inject(operation="regenerate", kind="drop_after_commit")
    code, document, err = managed.rotate("batch")
    assert code == 0 and document["keys"][0]["status"] == "rotated", err
    assert works(emulator, managed.sink().read_secret("apps/batch")[0].reveal())


def test_a_late_commit_after_an_in_place_retry_is_found_and_fixed_by_the_next_run(
    managed: Managed, emulator: Emulator
) -> None:
    emulator.inject(operation="regenerate", kind="drop_after_commit")  # lost answer: looked up, retried
    assert managed.rotate("batch")[0] == 0
    sink = managed.sink()
    stored, entry = sink.read_secret("apps/batch")
    assert entry.ledger is not None and entry.ledger.unsettled == "true"
    emulator.store.regenerate(managed.states["batch"].slot_a_uuid)  # the lost request lands now
    assert not works(emulator, stored.reveal())
    code, document, err = managed.rotate("--due")  # not due by age: due because its secret is dead
    batch = {k["key"]: k for k in document["keys"]}["batch"]
    assert code == 0 and batch["status"] == "rotated", err
    assert "committed late" in batch["reason"]
    fresh, entry = sink.read_secret("apps/batch")
    assert works(emulator, fresh.reveal()) and entry.ledger is not None and entry.ledger.unsettled is None
    code, document, _err = managed.rotate("--due")  # settled now: nothing more to do
    assert code == 0 and {k["status"] for k in document["keys"]} == {"not-due"}
