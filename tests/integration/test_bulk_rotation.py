"""Bulk rotation under DigitalOcean's rate limit: 1,000 due keys, no request refused with 429,
and a run killed half-way then started again rotates every key exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, environment

KEYS = 1000
BUDGET, WINDOW = 100, 2.0  # the emulator's burst budget: 100 requests per 2 s (DigitalOcean: 250/60 s)


def seed(emulator: Emulator, sink: VaultSink, prefix_name: str) -> None:
    """1,000 dual-slot keys as `pulumi up` leaves them, their last rotation long ago."""
    for i in range(KEYS):
        a = emulator.console_create(f"{prefix_name}-{i:04d}-slot-a")
        b = emulator.console_create(f"{prefix_name}-{i:04d}-slot-b")
        secret = Secret(a["secret_key"])
        ledger = Ledger(
            secret.fingerprint, "2026-01-01T00:00:00Z", slot_a=a["uuid"], slot_b=b["uuid"], stack="bulk"
        )
        sink.write(f"apps/{i:04d}", secret, ledger, 0)


@pytest.mark.slow
def test_a_thousand_due_keys_rotate_paced_and_resume_after_a_kill(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    prefix = f"gradient-keys/bulk-{tmp_path.name[-8:]}"
    env = environment(emulator, openbao, tmp_path)
    sink = VaultSink(path_prefix=prefix, environ=env)
    seed(emulator, sink, "bulk")
    stack = tmp_path / "Pulumi.bulk.yaml"
    keys = [
        {"name": f"bulk-{i:04d}", "vault_path": f"apps/{i:04d}", "rotate_every": "30d"} for i in range(KEYS)
    ]
    stack.write_text(
        yaml.safe_dump(
            {"config": {"gradient-keys:vault": {"path_prefix": prefix}, "gradient-keys:keys": keys}}
        )
    )
    emulator.limiter.per_minute, emulator.limiter.minute_seconds, emulator.limiter.per_hour = (
        BUDGET,
        WINDOW,
        0,
    )
    emulator.stats.reset()
    command = [
        sys.executable,
        "-m",
        "components.cli",
        "rotate",
        "--config",
        str(stack),
        "--due",
        "--format",
        "json",
    ]

    first = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while sum(k.regenerations for k in emulator.store.list()) < 400 and time.monotonic() < deadline:
        assert first.poll() is None, "the first run should still be going"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # no clean-up, no journal update: a runner that died
    first.wait()
    done_before = sum(1 for k in emulator.store.list() if k.regenerations)
    assert 400 <= done_before < KEYS

    second = subprocess.run(
        command, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False
    )
    assert second.returncode == 0, second.stderr
    document = json.loads(second.stdout)
    summary = document["summary"]
    assert document["resumed"] is True
    assert summary["failed"] == 0 and summary["not_due"] == 0
    assert summary["rotated"] + summary["already_done"] == KEYS
    assert summary["already_done"] >= done_before - 1  # a key killed mid-rotation is finished now

    regenerations = [k.regenerations for k in emulator.store.list()]
    assert sum(1 for n in regenerations if n >= 1) == KEYS  # every key's inactive slot, once...
    assert sum(regenerations) <= KEYS + 1  # ...give or take the one the kill cut in half
    assert "429" not in emulator.stats.view()["requests"].get("regenerate", {})
    ledgers = [sink.read_ledger(f"apps/{i:04d}") for i in range(0, KEYS, 97)]
    assert {entry.ledger.run_id for entry in ledgers if entry and entry.ledger} == {document["run_id"]}
    assert all(entry and entry.ledger and entry.ledger.active_slot == "b" for entry in ledgers)
