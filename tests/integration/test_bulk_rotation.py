"""Bulk rotation under DigitalOcean's rate limit: 300 due keys (several times the emulator's burst
budget, so the run must pace itself for most of it), no request refused with 429, and a run killed
part-way then started again rotates every key exactly once. bench/ measures 1,000 and more."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.seeding import rotate_command, seed_due_dual_slot
from components.do_keys import BURST_ENV
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.ratelimit import HeaderMode
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.integration.rotation_env import REPO, environment

KEYS = 300
KILL_AFTER = KEYS * 2 // 5  # regenerates done before the first run is killed: well past one budget
BUDGET, WINDOW = 100, 2.0  # the emulator's burst limit: 100 requests per 2 s (DigitalOcean: 250/60 s)


def limit(emulator: Emulator, env: dict[str, str], budget: int, window: float) -> None:
    """DigitalOcean's limits scaled to a `window`-second "minute": `budget` a window, and 20 times
    that over 60 windows (its 250 a minute, 5,000 an hour); the client is told the burst limit."""
    limiter = emulator.limiter
    limiter.per_minute, limiter.minute_seconds = budget, window
    limiter.per_hour, limiter.hour_seconds = budget * 20, window * 60
    env[BURST_ENV] = f"{budget * 60 / window:g}"


@pytest.mark.slow
@pytest.mark.parametrize("headers", ["documented", "minute"])
def test_due_keys_rotate_under_the_burst_limit_without_a_refusal(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path, headers: HeaderMode
) -> None:
    """120 keys, over twice what one window allows: documented headers (the hour only; the burst
    limit is told to the client) or the earlier minute budget in the headers, no 429 either way,
    and the hourly quota the headers report is what the run used."""
    prefix = f"gradient-keys/burst-{tmp_path.name[-8:]}"
    env = environment(emulator, openbao, tmp_path)
    sink = VaultSink(path_prefix=prefix, environ=env)
    stack = tmp_path / "Pulumi.burst.yaml"
    seed_due_dual_slot(emulator, sink, 120, stack, name=f"burst-{headers}")
    limit(emulator, env, 50, 1.0)
    emulator.limiter.headers = headers
    emulator.stats.reset()
    result = subprocess.run(
        rotate_command(stack, sys.executable),
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["rotated"] == 120 and summary["failed"] == 0
    seen = emulator.stats.view()["requests"]
    assert not any("429" in outcomes for outcomes in seen.values()), seen
    if headers == "documented":
        remaining = emulator.limiter.peek(DEFAULT_TOKEN).remaining
        assert remaining == 50 * 20 - summary["digitalocean_requests"]


@pytest.mark.slow
def test_hundreds_of_due_keys_rotate_paced_and_resume_after_a_kill(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    prefix = f"gradient-keys/bulk-{tmp_path.name[-8:]}"
    env = environment(emulator, openbao, tmp_path)
    sink = VaultSink(path_prefix=prefix, environ=env)
    stack = tmp_path / "Pulumi.bulk.yaml"
    seed_due_dual_slot(emulator, sink, KEYS, stack)
    limit(emulator, env, BUDGET, WINDOW)
    emulator.stats.reset()
    command = rotate_command(stack, sys.executable)

    first = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while sum(k.regenerations for k in emulator.store.list()) < KILL_AFTER and time.monotonic() < deadline:
        assert first.poll() is None, "the first run should still be going"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # no clean-up, no journal update: a runner that died
    first.wait()
    done_before = sum(1 for k in emulator.store.list() if k.regenerations)
    assert KILL_AFTER <= done_before < KEYS

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
    ledgers = [sink.read_ledger(f"apps/{i:05d}") for i in range(0, KEYS, 29)]
    assert {entry.ledger.run_id for entry in ledgers if entry and entry.ledger} == {document["run_id"]}
    assert all(entry and entry.ledger and entry.ledger.active_slot == "b" for entry in ledgers)
