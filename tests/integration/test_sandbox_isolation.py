"""`gradient-keys sandbox up` keeps the caller's secrets to the caller (issue 11).

Its children (the emulator and the OpenBao dev server) outlive the shell that started them, so
what they hold stays readable for as long: their environment (/proc/PID/environ, their owner) and
their command line (/proc/PID/cmdline, every user, `ps`). They get an allow-listed environment and
no token on the command line; the state directory is made private when the tool creates it and
left alone, with a warning, when it was the user's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox import launcher
from sandbox.api_routes import API_PREFIX
from sandbox.emulator import ADMIN_TOKEN_ENV, resolve_tokens
from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN
from tests.integration.test_cli import REPO, gk

CANARIES = {
    "DIGITALOCEAN_TOKEN": "planted-canary-do-XYZ",
    "VAULT_TOKEN": "planted-canary-vault-token-XYZ",
    "VAULT_SECRET_ID": "planted-canary-secret-id-XYZ",
    # A name no deny-list would think of: only an allow-list keeps it out.
    "ACME_DEPLOY_PASSWORD": "planted-canary-unlisted-XYZ",
}
TOKEN, READ_ONLY, ADMIN = "dop_v1_isolation_full", "dop_v1_isolation_read", "isolation-admin"
# What a child may hold: the common allow-list, what Python needs to import, and what it is given.
ALLOWED = re.compile(
    r"(PATH|HOME|TMPDIR|TZ|LANG|LANGUAGE|LC_\w+|PYTHONPATH|PYTHONHOME|GRADIENT_KEYS_SANDBOX_\w+|BAO_\w+)"
)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """A common umask, so "created 0700" is the tool's doing and not the test runner's umask."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def stopped_after() -> Iterator[list[Path]]:
    """Directories whose sandbox is stopped (by PID) after the test, whatever happened."""
    directories: list[Path] = []
    yield directories
    for directory in directories:
        launcher.down(directory)


def proc(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def environ_of(pid: int) -> dict[str, str]:
    entries = proc(pid, "environ").decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def status(url: str, token: str, path: str = API_PREFIX, method: str = "GET") -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{url}{path}", headers=headers, json={}, timeout=10).status_code


def modes(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mode & 0o777 for path in directory.iterdir()}


def test_children_inherit_no_credentials_and_show_no_tokens(
    tmp_path: Path, stopped_after: list[Path]
) -> None:
    directory = tmp_path / "sandbox"
    stopped_after.append(directory)
    flags = ["--token", TOKEN, "--read-only-token", READ_ONLY, "--admin-token", ADMIN]
    up = gk("sandbox", "up", "--dir", str(directory), *flags, env=CANARIES)
    assert up.returncode == 0, up.stderr
    recorded = json.loads((directory / "sandbox.json").read_text())
    emulator_pid, vault_pid = int(recorded["pid"]), int(recorded["vault_pid"])

    for pid in (emulator_pid, vault_pid):
        environment = proc(pid, "environ")
        for name, canary in CANARIES.items():
            assert canary.encode() not in environment, f"{name} reached pid {pid}"
        unexpected = sorted(name for name in environ_of(pid) if not ALLOWED.fullmatch(name))
        assert unexpected == [], f"pid {pid} inherited {unexpected}"
        command_line = proc(pid, "cmdline")
        for secret in (TOKEN, READ_ONLY, ADMIN, recorded["vault_token"]):
            assert secret.encode() not in command_line, f"a token is on pid {pid}'s command line"

    # The tokens arrived all the same, by environment: each one does what it is for.
    url = recorded["api_url"]
    assert status(url, TOKEN) == 200 and status(url, DEFAULT_TOKEN) == 401
    assert status(url, READ_ONLY, f"{API_PREFIX}/x", "PUT") == 403
    assert status(url, ADMIN, "/_sandbox/console/keys") == 200
    vault = requests.get(
        f"{recorded['vault_addr']}/v1/auth/token/lookup-self",
        headers={"X-Vault-Token": recorded["vault_token"]},
        timeout=10,
    )
    assert vault.status_code == 200


def test_token_flags_in_equals_form_stay_off_the_command_line(
    tmp_path: Path, stopped_after: list[Path]
) -> None:
    directory = tmp_path / "sandbox"
    stopped_after.append(directory)
    info = launcher.up(directory, [f"--token={TOKEN}", f"--admin-token={ADMIN}"], vault=False)
    assert (info.token, info.admin_token) == (TOKEN, ADMIN)
    command_line = proc(info.pid, "cmdline")
    assert TOKEN.encode() not in command_line and ADMIN.encode() not in command_line
    assert status(info.api_url, TOKEN) == 200


def test_up_takes_its_tokens_from_the_environment_too(tmp_path: Path, stopped_after: list[Path]) -> None:
    directory = tmp_path / "sandbox"
    stopped_after.append(directory)
    variables = {"GRADIENT_KEYS_SANDBOX_TOKEN": TOKEN, "GRADIENT_KEYS_SANDBOX_ADMIN_TOKEN": ADMIN}
    up = gk("sandbox", "up", "--dir", str(directory), "--no-vault", env=variables)
    assert up.returncode == 0, up.stderr
    assert f"export DIGITALOCEAN_TOKEN={TOKEN}" in up.stdout.splitlines()
    recorded = json.loads((directory / "sandbox.json").read_text())
    assert status(recorded["api_url"], TOKEN) == 200
    assert status(recorded["api_url"], ADMIN, "/_sandbox/console/keys") == 200
    assert gk("sandbox", "console", "list", "--dir", str(directory)).returncode == 0


def test_a_token_with_whitespace_is_refused_before_anything_starts(
    tmp_path: Path, stopped_after: list[Path]
) -> None:
    directory = tmp_path / "sandbox"
    stopped_after.append(directory)
    with pytest.raises(launcher.SandboxError, match="whitespace"):
        launcher.up(directory, ["--token", "two words"], vault=False)
    assert launcher.running(directory) is None


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "sandbox.emulator"],
        [sys.executable, "-m", "components.cli", "sandbox", "serve"],
    ],
    ids=["python -m sandbox.emulator", "gradient-keys sandbox serve"],
)
def test_serve_reads_its_tokens_from_the_environment_and_a_flag_wins(command: list[str]) -> None:
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRADIENT_KEYS_SANDBOX_TOKEN": "dop_v1_env_one dop_v1_env_two",
        "GRADIENT_KEYS_SANDBOX_READ_ONLY_TOKEN": READ_ONLY,
        "GRADIENT_KEYS_SANDBOX_ADMIN_TOKEN": ADMIN,
    }

    def serve(*flags: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [*command, "--port", "0", *flags], cwd=REPO, env=environment, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        return process, process.stdout.readline().strip()

    process, url = serve()
    try:
        assert status(url, "dop_v1_env_one") == 200 and status(url, "dop_v1_env_two") == 200
        assert status(url, DEFAULT_TOKEN) == 401
        assert status(url, READ_ONLY, f"{API_PREFIX}/x", "PUT") == 403
        assert status(url, ADMIN, "/_sandbox/console/keys") == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    process, url = serve("--token", "dop_v1_from_flag", "--admin-token", "admin-from-flag")
    try:
        assert status(url, "dop_v1_from_flag") == 200
        assert status(url, "dop_v1_env_one") == 401
        assert status(url, "admin-from-flag", "/_sandbox/console/keys") == 200
        assert status(url, ADMIN, "/_sandbox/console/keys") == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_existing_directory_keeps_its_mode_and_gets_a_warning(
    tmp_path: Path, stopped_after: list[Path], umask_022: None
) -> None:
    directory = tmp_path / "mine"
    directory.mkdir()
    directory.chmod(0o755)
    for log in ("emulator.log", "openbao.log"):  # left by an older version, readable by all
        (directory / log).write_text("old\n")
        (directory / log).chmod(0o644)
    stopped_after.append(directory)
    up = gk("sandbox", "up", "--dir", str(directory))
    assert up.returncode == 0, up.stderr
    assert directory.stat().st_mode & 0o777 == 0o755
    assert str(directory) in up.stderr and f"chmod 700 {directory}" in up.stderr
    files = modes(directory)
    assert {"sandbox.json", "vault.json", "emulator.log", "openbao.log", "keys.db"} <= files.keys()
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


def test_missing_directories_are_created_private_without_a_warning(
    tmp_path: Path, stopped_after: list[Path], umask_022: None
) -> None:
    directory = tmp_path / "new" / "nested" / "sandbox"
    stopped_after.append(directory)
    first = gk("sandbox", "up", "--dir", str(directory), "--no-vault")
    assert first.returncode == 0, first.stderr
    for made in (directory, directory.parent, directory.parent.parent):
        assert made.stat().st_mode & 0o777 == 0o700, made
    assert "warning" not in first.stderr
    assert gk("sandbox", "down", "--dir", str(directory)).returncode == 0
    again = gk("sandbox", "up", "--dir", str(directory), "--no-vault")
    assert again.returncode == 0 and "warning" not in again.stderr


def test_an_explicit_admin_token_flag_wins_even_when_it_is_the_default() -> None:

    # An explicit --admin-token equal to the built-in default is a flag, and a flag wins.
    chosen = resolve_tokens(None, None, DEFAULT_ADMIN_TOKEN, {ADMIN_TOKEN_ENV: "from-env"})
    assert chosen.admin_token == DEFAULT_ADMIN_TOKEN
    assert resolve_tokens(None, None, None, {ADMIN_TOKEN_ENV: "from-env"}).admin_token == "from-env"


def test_an_accounts_token_reaches_the_emulator_off_its_command_line(
    tmp_path: Path, stopped_after: list[Path]
) -> None:
    directory = tmp_path / "sandbox"
    stopped_after.append(directory)
    account_token = "dop_v1_isolation_team_b_93a1"
    up = gk("sandbox", "up", "--dir", str(directory), "--no-vault", "--account", f"team-b={account_token}")
    assert up.returncode == 0, up.stderr
    info = launcher.running(directory)
    assert info is not None
    assert account_token.encode() not in proc(info.pid, "cmdline")
    assert status(info.api_url, account_token) == 200
