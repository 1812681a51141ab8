"""The `gradient-keys` command end to end: sandbox up, control panel, keys list, down, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from sandbox.openbao import OpenBaoServer

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


def test_wrong_token_exits_4_and_names_the_variable(sandbox_dir: Path) -> None:
    env = exports_of(gk("sandbox", "up", "--dir", str(sandbox_dir)).stdout)
    result = gk("keys", "list", env={**env, "DIGITALOCEAN_TOKEN": "dop_v1_wrong"})
    assert result.returncode == 4
    assert "DIGITALOCEAN_TOKEN" in result.stderr and "dop_v1_wrong" not in result.stderr


def test_console_without_a_sandbox_says_how_to_start_one(tmp_path: Path) -> None:
    result = gk("sandbox", "console", "create", "x", "--dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "gradient-keys sandbox up" in result.stderr


def test_sandbox_up_gives_a_working_vault(sandbox_dir: Path) -> None:
    env = exports_of(gk("sandbox", "up", "--dir", str(sandbox_dir)).stdout)
    assert env["VAULT_ADDR"].startswith("http://127.0.0.1:") and env["VAULT_TOKEN"]
    checked = gk("vault", "check", "apps/chatbot", "--on-delete", "destroy", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "ok  secret/data/gradient-keys/apps/chatbot" in checked.stdout
    assert env["VAULT_TOKEN"] not in checked.stdout + checked.stderr
    gk("sandbox", "down", "--dir", str(sandbox_dir))
    again = exports_of(gk("sandbox", "up", "--dir", str(sandbox_dir)).stdout)
    assert (again["VAULT_ADDR"], again["VAULT_TOKEN"]) == (env["VAULT_ADDR"], env["VAULT_TOKEN"])


def test_sandbox_without_vault(sandbox_dir: Path) -> None:
    env = exports_of(gk("sandbox", "up", "--no-vault", "--dir", str(sandbox_dir)).stdout)
    assert "VAULT_ADDR" not in env and "DIGITALOCEAN_API_URL" in env


def test_vault_policy_prints_the_shipped_policy() -> None:
    printed = gk("vault", "policy")
    assert printed.returncode == 0
    assert printed.stdout == (REPO / "policies" / "gradient-keys.hcl").read_text()


def test_vault_check_exit_codes(openbao: OpenBaoServer, root_vault: hvac.Client) -> None:
    base = {**openbao.environment(), "HOME": "/nonexistent"}
    weak = root_vault.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]
    denied = gk("vault", "check", "apps/x", env={**base, "VAULT_TOKEN": weak})
    assert denied.returncode == 4 and "may not create secret/data/gradient-keys/apps/x" in denied.stderr
    assert weak not in denied.stderr
    assert gk("vault", "check", "apps/x", env={"VAULT_ADDR": "", "VAULT_TOKEN": "t"}).returncode == 2
    assert gk("vault", "check", "../x", env={**base, "VAULT_TOKEN": weak}).returncode == 2
    down = gk("vault", "check", "apps/x", env={"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t"})
    assert down.returncode == 3 and "unreachable" in down.stderr


def test_sandbox_files_are_private_and_down_spares_strangers(sandbox_dir: Path) -> None:
    gk("sandbox", "up", "--dir", str(sandbox_dir))
    assert sandbox_dir.stat().st_mode & 0o777 == 0o700
    assert (sandbox_dir / "sandbox.json").stat().st_mode & 0o777 == 0o600
    gk("sandbox", "down", "--dir", str(sandbox_dir))
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (sandbox_dir / "sandbox.json").write_text(
            json.dumps({"pid": stranger.pid, "api_url": "http://x", "token": "t", "admin_token": "a"})
        )
        gk("sandbox", "down", "--dir", str(sandbox_dir))
        assert stranger.poll() is None  # a recorded PID that is not a sandbox process is left alone
    finally:
        stranger.kill()
        stranger.wait()
