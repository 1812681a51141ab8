"""`gradient-keys audit` for people: the inventory table (names first, at most 100 columns) and the
Markdown report for a CI job summary, whose cells a hostile key name cannot break out of."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, manage

LONG = "recommendations-engine-production-eu"  # longer than the key column shows whole
KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "30d"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "rotate_every": "7d"},
    {"name": LONG, "vault_path": "apps/recommendations", "rotate_every": "30d"},
]
HOSTILE = "x|y <img src=x onerror=alert(1)> [click](https://evil.example) `code` **b**"


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/rep-{tmp_path.name[-8:]}")


def audit(managed: Managed, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.cli", "audit", "--config", str(managed.stack_file), *args],
        cwd=REPO,
        env={**os.environ, **managed.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_clean_table_is_the_inventory(managed: Managed) -> None:
    result = audit(managed)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "KEY",
        "STRATEGY",
        "SLOTS",
        "ACTIVE",
        "AGE",
        "NEXT",
        "ROTATION",
        "VAULT",
        "FINDINGS",
    ]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:4]}
    assert rows["chatbot"][:3] == ["dual-slot", "a,b", "a"] and rows["chatbot"][-2:] == ["v1", "0"]
    assert rows["batch"][:3] == ["in-place", "a", "a"]
    assert re.fullmatch(r"\d+m", rows["chatbot"][3])  # adopted minutes ago
    assert re.fullmatch(r"20\d\d-\d\d-\d\d", rows["batch"][4])  # the date it is due
    assert f"{LONG[:27]}~" in rows  # clipped: the row still fits
    assert all(len(line) <= 100 for line in lines)
    summary = " ".join(line.strip() for line in lines[4:])
    assert summary.startswith("stack rot: 3 declared key(s)") and "no findings" in summary


def test_findings_follow_the_inventory_wrapped_to_100_columns(managed: Managed, emulator: Emulator) -> None:
    emulator.store.create(HOSTILE)  # an undeclared key: a finding quoting its name
    emulator.store.delete(managed.states["batch"].slot_a_uuid)
    result = audit(managed)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), [line for line in lines if len(line) > 100]
    assert any(line.startswith("CRITICAL missing-at-digitalocean batch: ") for line in lines)
    assert any(line.startswith("    fix: ") for line in lines)
    batch = next(line for line in lines[1:4] if line.startswith("batch"))
    assert batch.split()[-1] != "0"  # the row counts its findings


def test_markdown_is_a_job_summary_and_hostile_names_stay_inert(managed: Managed, emulator: Emulator) -> None:
    emulator.store.create(HOSTILE)
    result = audit(managed, "--format", "markdown", "--fail-on", "low")
    assert result.returncode == 1, result.stderr
    text = result.stdout
    assert text.startswith("## gradient-keys audit: stack `rot`\n")
    assert "❌ **fails** at `--fail-on low`" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| key | strategy | slots | active | age | next rotation | vault | findings |"
    assert "<img" not in text and "https://evil" not in text and "**b**" not in text
    assert not re.search(r"(?<!\\)\]\(", text)  # no link: its `]` is escaped
    hostile_row = next(line for line in table if "evil" in line)
    unescaped_pipes = len(re.findall(r"(?<!\\)\|", hostile_row))
    assert unescaped_pipes == 7  # six columns: the name's `|` did not add one
    assert "x\\|y &lt;img" in hostile_row


def test_markdown_of_a_clean_run_passes(managed: Managed) -> None:
    result = audit(managed, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "✅ **no findings**" in result.stdout and "### Findings" not in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "dual-slot" in line]
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("env", "args", "code", "says"),
    [
        ({"VAULT_ADDR": "http://127.0.0.1:9"}, (), 3, "(exit 3, VaultUnavailableError)"),
        ({}, ("--fail-on", "severe"), 2, "(exit 2, usage)"),
    ],
    ids=["vault-unreachable", "bad-usage"],
)
def test_a_markdown_audit_that_cannot_run_says_so_in_markdown(
    managed: Managed, env: dict[str, str], args: tuple[str, ...], code: int, says: str
) -> None:
    """A CI job summary gets a report even when the audit did not run: never an empty summary."""
    command = ["audit", "--config", str(managed.stack_file), "--format", "markdown", *args]
    result = subprocess.run(
        [sys.executable, "-m", "components.cli", *command],
        cwd=REPO,
        env={**os.environ, **managed.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == code, result.stderr
    assert result.stdout.startswith("## gradient-keys audit: ")
    assert "❌ **the audit did not run** " + says in result.stdout
    assert "|" not in result.stdout.splitlines()[-1].replace("\\|", "")  # the message is one inert cell
