"""One exit code per situation, whichever command meets it (docs/exit-codes.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hvac
import pytest

from components.clients import ClientFactory
from components.config import parse_settings
from components.errors import ExitCode, PermissionDeniedError, exit_code
from components.keys import KeyContext, KeyOperations
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, environment, manage

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]
COMMANDS = [("rotate", "--all"), ("audit",), ("keys", "list")]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/exit-{tmp_path.name[-8:]}")


def run(
    managed: Managed, command: tuple[str, ...], env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    """`gradient-keys COMMAND` (with the managed stack file, except `keys`) as a subprocess."""
    stack = () if command[0] == "keys" else ("--config", str(managed.stack_file))
    return subprocess.run(
        [sys.executable, "-m", "components.cli", *command, *stack, *extra],
        cwd=REPO,
        env={**os.environ, **managed.env, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_refused_digitalocean_token_is_4_everywhere(managed: Managed, command: tuple[str, ...]) -> None:
    result = run(managed, command, {"DIGITALOCEAN_TOKEN": "dop_v1_refused"})
    assert result.returncode == ExitCode.REFUSED, result.stderr
    assert "Traceback" not in result.stderr and "dop_v1_refused" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", COMMANDS[:2], ids=" ".join)
def test_a_refused_vault_token_is_4_everywhere(
    managed: Managed, command: tuple[str, ...], root_vault: hvac.Client
) -> None:
    weak = root_vault.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]
    for token in (weak, "hvs.not-a-token"):  # lacking the policy, and not a token at all
        result = run(managed, command, {"VAULT_TOKEN": token})
        assert result.returncode == ExitCode.REFUSED, result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unreachable_digitalocean_is_3_everywhere(managed: Managed, command: tuple[str, ...]) -> None:
    result = run(managed, command, {"DIGITALOCEAN_API_URL": "http://127.0.0.1:9"})
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_token_is_2_everywhere(managed: Managed, command: tuple[str, ...]) -> None:
    result = run(managed, command, {"DIGITALOCEAN_TOKEN": ""})
    assert result.returncode == ExitCode.USAGE, result.stderr


def test_a_failed_second_regenerate_keeps_its_class_and_status(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    env = environment(emulator, openbao, tmp_path)
    settings = parse_settings(
        {"vault": {"path_prefix": f"gradient-keys/ctx-{tmp_path.name[-8:]}"}, "keys": KEYS}, "ctx"
    )
    (spec,) = settings.keys
    for name in spec.slot_names:
        emulator.console_create(name)
    # The active slot's regenerate succeeds; the next one is refused (a scope taken away meanwhile).
    emulator.inject(operation="regenerate", kind="error", status=403, after=1)
    ops = KeyOperations(KeyContext(settings.stack, settings.vault, settings.digitalocean), ClientFactory(env))
    with pytest.raises(PermissionDeniedError) as caught:
        ops.create_or_adopt(spec)
    text = str(caught.value)
    assert caught.value.status == 403 and caught.value.request_id
    assert exit_code(caught.value) == ExitCode.REFUSED
    assert text.count("DigitalOcean regenerate") == 1 and f"request_id={caught.value.request_id}" in text
    assert "slot b (chatbot-slot-b) may still accept the secret shown in the control panel" in text
