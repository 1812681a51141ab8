"""`rotate --all` and `--emergency` sweep in keys whose rotation cuts consumers off (in-place keys;
every key in an emergency): the plan says so, a terminal asks, a job must pass `--yes`."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, manage, regenerations

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "rotate_every": "30d"},
]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/out-{tmp_path.name[-8:]}")


def versions(managed: Managed) -> dict[str, int]:
    return {path: managed.sink().read_secret(path)[1].version for path in ("apps/chatbot", "apps/batch")}


def test_all_without_yes_off_a_terminal_is_refused_before_anything_changes(
    managed: Managed, emulator: Emulator
) -> None:
    before, regenerated = versions(managed), regenerations(emulator)
    code, document, err = managed.command("rotate", "--all")
    assert code == 2, err
    assert document["error"]["kind"] == "ConfigurationError"
    message = document["error"]["message"]
    assert "--yes" in message and "batch" in message and "chatbot" not in message
    assert versions(managed) == before and regenerations(emulator) == regenerated


@pytest.mark.parametrize("flag", ["--yes", "--allow-outage"])
def test_yes_accepts_the_outage_and_the_plan_marks_it(managed: Managed, flag: str) -> None:
    code, document, err = managed.command("rotate", "--all", flag)
    assert code == 0, err
    marks = {k["key"]: (k["status"], k["outage"]) for k in document["keys"]}
    assert marks == {"chatbot": ("rotated", False), "batch": ("rotated", True)}


def test_an_emergency_cuts_off_every_key_so_it_needs_yes_too(managed: Managed, emulator: Emulator) -> None:
    regenerated = regenerations(emulator)
    code, document, _err = managed.command("rotate", "chatbot", "--emergency")
    assert code == 2 and "--yes" in document["error"]["message"]
    assert regenerations(emulator) == regenerated
    code, document, err = managed.command("rotate", "chatbot", "--emergency", "--yes")
    assert code == 0, err
    assert [(k["key"], k["outage"]) for k in document["keys"]] == [("chatbot", True)]


def test_only_dual_slot_keys_or_a_schedule_or_names_need_no_yes(managed: Managed) -> None:
    code, document, err = managed.command("rotate", "chatbot")  # named: the operator chose it
    assert code == 0, err
    code, document, err = managed.command("rotate", "--due")  # nothing due, nothing asked
    assert code == 0, err
    code, document, err = managed.command("rotate", "batch", "--min-interval", "0")
    assert code == 0 and document["keys"][0]["outage"] is True, err


def test_a_dry_run_shows_the_outage_and_asks_nothing(managed: Managed) -> None:
    command = ["rotate", "--all", "--dry-run", "--config", str(managed.stack_file)]
    result = subprocess.run(
        [sys.executable, "-m", "components.cli", *command],
        cwd=REPO,
        env={**os.environ, **managed.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header.split()[:3] == ["KEY", "STATUS", "OUTAGE"]
    assert "outage: the consumers of 1 key(s) (batch) are cut off until they re-read Vault" in result.stdout


def _on_a_terminal(managed: Managed, answer: str) -> tuple[int, str]:
    """`rotate --all` with a pseudo-terminal as stdin, answering the question with `answer`."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "components.cli", "rotate", "--config", str(managed.stack_file), "--all"],
            cwd=REPO,
            env={**os.environ, **managed.env},
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, answer.encode() + b"\n")
        _out, err = process.communicate(timeout=120)
    finally:
        os.close(leader)
        os.close(follower)
    return process.returncode, err


def test_on_a_terminal_the_person_is_asked(managed: Managed, emulator: Emulator) -> None:
    regenerated = regenerations(emulator)
    code, err = _on_a_terminal(managed, "no")
    assert code == 2 and "Type yes to rotate" in err and "not confirmed" in err
    assert regenerations(emulator) == regenerated
    code, err = _on_a_terminal(managed, "yes")
    assert code == 0, err
    assert regenerations(emulator) != regenerated
