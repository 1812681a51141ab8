"""An emergency that stops half-way is finished by the next run, and says until then which secret
is still alive (issue 12, defect 1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hvac
import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import REPO, Managed, manage, regenerations

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/emg-{tmp_path.name[-8:]}")


def both_slot_secrets(managed: Managed) -> tuple[str, str]:
    """Slot a's secret (stored at adoption) and, after one ordinary rotation, slot b's: both valid,
    both 'leaked'."""
    sink = managed.sink()
    slot_a = sink.read_secret("apps/chatbot")[0].reveal()
    code, _document, err = managed.rotate("chatbot")
    assert code == 0, err
    slot_b = sink.read_secret("apps/chatbot")[0].reveal()
    return slot_a, slot_b


def pending(root_vault: hvac.Client, managed: Managed) -> str | None:
    meta = root_vault.secrets.kv.v2.read_secret_metadata(
        f"{managed.prefix}/apps/chatbot", mount_point="secret"
    )
    value = meta["data"]["custom_metadata"].get("pending_slots")
    return str(value) if value else None


def test_a_failed_second_regenerate_says_which_secret_lives_and_the_rerun_kills_it(
    managed: Managed, emulator: Emulator, root_vault: hvac.Client
) -> None:
    slot_a, slot_b = both_slot_secrets(managed)
    # Slot b is active: the emergency regenerates it first, then slot a, whose regenerate is refused.
    emulator.inject(operation="regenerate", kind="error", status=400, after=1)
    code, document, err = managed.rotate("chatbot", "--emergency")
    assert code == 1 and document["keys"][0]["status"] == "failed"
    assert "slot a" in document["keys"][0]["detail"] and "MAY STILL WORK" in document["keys"][0]["detail"]
    assert not works(emulator, slot_b) and works(emulator, slot_a)  # the leaked slot a is still alive
    assert pending(root_vault, managed) == "a"
    code, report, _err = managed.audit()
    assert code == 1 and "emergency-unfinished" in {f["id"] for f in report["findings"]}

    code, document, err = managed.rotate("chatbot", "--emergency")
    assert code == 0, err
    assert document["keys"][0]["status"] == "rotated" and "unfinished" in document["keys"][0]["reason"]
    assert not works(emulator, slot_a) and not works(emulator, slot_b)
    assert works(emulator, managed.sink().read_secret("apps/chatbot")[0].reveal())
    assert pending(root_vault, managed) is None
    code, report, _err = managed.audit("--verify-secrets")
    assert code == 0 and report["findings"] == [], report["findings"]


def test_an_emergency_killed_between_its_regenerates_is_finished_by_the_rerun(
    managed: Managed, emulator: Emulator, root_vault: hvac.Client
) -> None:
    both_slot_secrets(managed)
    emulator.inject(operation="regenerate", kind="delay", delay_seconds=30, after=1)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "components.cli",
            "rotate",
            "--config",
            str(managed.stack_file),
            "--emergency",
            "--yes",
            "chatbot",
        ],
        cwd=REPO,
        env={**os.environ, **managed.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while pending(root_vault, managed) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert pending(root_vault, managed) == "a"  # killed with slot a still to regenerate
    emulator.faults.clear()
    before = regenerations(emulator, "chatbot")

    code, document, err = managed.rotate("chatbot", "--emergency")
    assert code == 0, err
    assert document["keys"][0]["status"] == "rotated" and "unfinished" in document["keys"][0]["reason"]
    after = regenerations(emulator, "chatbot")
    assert after["chatbot-slot-a"] >= before["chatbot-slot-a"] + 1
    assert after["chatbot-slot-b"] == before["chatbot-slot-b"]  # the active slot is not regenerated again
    assert pending(root_vault, managed) is None
    assert works(emulator, managed.sink().read_secret("apps/chatbot")[0].reveal())


def test_any_rotate_and_the_schedule_see_an_unfinished_emergency(
    managed: Managed, emulator: Emulator, root_vault: hvac.Client
) -> None:
    slot_a, _slot_b = both_slot_secrets(managed)
    emulator.inject(operation="regenerate", kind="error", status=400, after=1)
    assert managed.rotate("chatbot", "--emergency")[0] == 1
    code, document, err = managed.rotate("--due")  # not due by age: due because of the emergency
    assert code == 0, err
    assert document["keys"][0]["status"] == "rotated"
    assert not works(emulator, slot_a) and pending(root_vault, managed) is None
