"""The `gradient-keys` command end to end: sandbox up, control panel, keys list, down, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def gk(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sandbox"
    yield directory
    gk("sandbox", "down", "--dir", str(directory))
    shutil.rmtree(directory, ignore_errors=True)


def exports_of(stdout: str) -> dict[str, str]:
    pairs = [
        line.removeprefix("export ").split("=", 1)
        for line in stdout.splitlines()
        if line.startswith("export ")
    ]
    return {k: v.strip("'") for k, v in pairs}


def test_sandbox_lifecycle_and_keys_list(sandbox_dir: Path) -> None:
    up = gk("sandbox", "up", "--dir", str(sandbox_dir))
    assert up.returncode == 0, up.stderr
    env = exports_of(up.stdout)
    assert env["DIGITALOCEAN_API_URL"].startswith("http://127.0.0.1:")
    assert gk("sandbox", "up", "--dir", str(sandbox_dir)).stdout == up.stdout  # idempotent
    made = gk("sandbox", "console", "create", "chatbot-a", "--dir", str(sandbox_dir))
    assert made.returncode == 0 and "chatbot-a" in made.stdout and "sk-do-" not in made.stdout + made.stderr
    gk("sandbox", "console", "create", "chatbot-b", "--dir", str(sandbox_dir))
    listed = gk("keys", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert sorted(k["name"] for k in document["keys"]) == ["chatbot-a", "chatbot-b"]
    assert document["requests"] == 1
    table = gk("keys", "list", env=env)
    assert "chatbot-a" in table.stdout and env["DIGITALOCEAN_TOKEN"] not in table.stdout + table.stderr
    # Keys persist across down/up, on the same port when it is free.
    assert gk("sandbox", "down", "--dir", str(sandbox_dir)).returncode == 0
    assert gk("sandbox", "status", "--dir", str(sandbox_dir)).returncode == 1
    again = gk("sandbox", "up", "--dir", str(sandbox_dir))
    assert exports_of(again.stdout)["DIGITALOCEAN_API_URL"] == env["DIGITALOCEAN_API_URL"]
    assert len(json.loads(gk("keys", "list", "--format", "json", env=env).stdout)["keys"]) == 2


def test_show_secret_prints_a_working_key_once(sandbox_dir: Path) -> None:
    gk("sandbox", "up", "--dir", str(sandbox_dir))
    made = gk("sandbox", "console", "create", "k", "--show-secret", "--dir", str(sandbox_dir))
    assert "secret (shown once): sk-do-" in made.stdout


def test_missing_token_is_a_usage_error() -> None:
    result = gk("keys", "list", env={"DIGITALOCEAN_TOKEN": ""})
    assert result.returncode == 2
    assert "DIGITALOCEAN_TOKEN is not set" in result.stderr


def test_unreachable_api_exits_3() -> None:
    result = gk("keys", "list", env={"DIGITALOCEAN_TOKEN": "t", "DIGITALOCEAN_API_URL": "http://127.0.0.1:9"})
    assert result.returncode == 3
    assert "did not answer" in result.stderr


def test_wrong_token_exits_1_and_names_the_variable(sandbox_dir: Path) -> None:
    env = exports_of(gk("sandbox", "up", "--dir", str(sandbox_dir)).stdout)
    result = gk("keys", "list", env={**env, "DIGITALOCEAN_TOKEN": "dop_v1_wrong"})
    assert result.returncode == 1
    assert "DIGITALOCEAN_TOKEN" in result.stderr and "dop_v1_wrong" not in result.stderr


def test_console_without_a_sandbox_says_how_to_start_one(tmp_path: Path) -> None:
    result = gk("sandbox", "console", "create", "x", "--dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "gradient-keys sandbox up" in result.stderr
