"""`gradient-keys sandbox up --vault-ha`: three OpenBao nodes and a balancer in the background,
the exports a user evals (VAULT_CACERT included), the whole job working against it, and `sandbox
down` stopping every process it started."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox import launcher
from tests.conftest import require_openbao

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    require_openbao()
    path = tmp_path / "sandbox"
    yield path
    with contextlib.suppress(launcher.SandboxError):
        launcher.down(path)


def gradient_keys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.cli", *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = shlex.split(value)[0]
    return found


@pytest.mark.slow
def test_up_vault_ha_then_down(directory: Path) -> None:
    started = gradient_keys("sandbox", "up", "--vault-ha", "--dir", str(directory))
    assert started.returncode == 0, started.stderr
    assert "OpenBao HA, 3 nodes behind a balancer" in started.stderr
    env = exports(started.stdout)
    assert env["VAULT_ADDR"].startswith("https://127.0.0.1:") and Path(env["VAULT_CACERT"]).is_file()
    record = json.loads((directory / "sandbox.json").read_text())
    pids = [pid for pid, _made in record["vault_nodes"]] + [record["vault_balancer"][0]]
    assert len(pids) == 4 and all(psutil.pid_exists(pid) for pid in pids)  # outlived `up`

    # The tool against it, with only what the exports say (read-your-writes through any node).
    sink = VaultSink(path_prefix="sandbox-ha", environ=env)
    secret = Secret("sk-do-sandbox-ha-0123456789abcdef")
    ledger = Ledger(
        fingerprint=secret.fingerprint,
        rotated_at="2026-11-26T00:00:00Z",
        slot_a="11111111-1111-4111-8111-111111111111",
        slot_b=None,
        active_slot="a",
    )
    for i in range(5):
        written = sink.write(f"apps/{i}", secret, ledger, 0)
        assert written.mirror_in_sync and sink.read_secret(f"apps/{i}")[0] == secret

    again = gradient_keys("sandbox", "up", "--dir", str(directory))  # the dev Vault asked for now
    assert again.returncode != 0 and "sandbox down" in again.stderr and "Traceback" not in again.stderr

    stopped = gradient_keys("sandbox", "down", "--dir", str(directory))
    assert stopped.returncode == 0, stopped.stderr
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids)
    assert not (directory / "sandbox.json").exists()
