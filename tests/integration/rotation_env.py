"""Shared set-up for rotation tests: a stack file, and keys already managed (created or adopted
by the core, exactly as `pulumi up` leaves them) against the emulator and a real OpenBao."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.clients import ClientFactory
from components.config import KeySpec, StackSettings, load_stack_file
from components.keys import KeyContext, KeyOperations, KeyState
from components.secret import Secret
from components.vault_policy import render_policy
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.conftest import vault_client

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Managed:
    directory: Path
    stack_file: Path
    env: dict[str, str]
    specs: dict[str, KeySpec]
    states: dict[str, KeyState]
    prefix: str

    def sink(self) -> VaultSink:
        return VaultSink(path_prefix=self.prefix, environ=self.env)

    def settings(self) -> StackSettings:
        return load_stack_file(self.stack_file)

    def context(self) -> KeyContext:
        """The key context the command builds from this stack file."""
        return KeyContext.of(self.settings())

    def operations(
        self, *, vault: VaultSink | None = None, verify: Callable[[Secret], bool] | None = None
    ) -> KeyOperations:
        """The core as the command builds it from this environment (Vault or the inference check
        replaced when given)."""
        return KeyOperations(self.context(), ClientFactory(self.env, vault=vault), verify=verify)

    def use_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Give this process the environment the command runs with (undone after the test), for
        tests that drive the core or the provider in-process."""
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def rotate(self, *args: str, timeout: float = 600) -> tuple[int, dict[str, Any], str]:
        """`gradient-keys rotate --config STACK --format json --yes ARGS` as a subprocess: a job
        that accepts the outage of in-place keys (tests of that guard call `command`)."""
        return self.command("rotate", "--yes", *args, timeout=timeout)

    def audit(self, *args: str) -> tuple[int, dict[str, Any], str]:
        """`gradient-keys audit --config STACK --format json ARGS` as a subprocess."""
        return self.command("audit", *args)

    def command(self, verb: str, *args: str, timeout: float = 600) -> tuple[int, dict[str, Any], str]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "components.cli",
                verb,
                "--config",
                str(self.stack_file),
                "--format",
                "json",
                *args,
            ],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,  # never a terminal: what a scheduled job sees
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        document = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
        return result.returncode, document, result.stderr


def regenerations(emulator: Emulator, name_prefix: str = "") -> dict[str, int]:
    """How often each DigitalOcean key (whose name starts with `name_prefix`) has been regenerated,
    by name: the emulator starts every test empty, and the keys a test makes have distinct names."""
    return {k.name: k.regenerations for k in emulator.store.list() if k.name.startswith(name_prefix)}


def environment(
    emulator: Emulator, openbao: OpenBaoServer, home: Path, prefix: str = "gradient-keys"
) -> dict[str, str]:
    """What the tool runs with: the sandbox, and a Vault token holding only the policy
    `gradient-keys vault policy` prints (not root, not even Vault's default policy), so every
    command and provider operation these tests drive proves that policy is enough."""
    return {
        "DIGITALOCEAN_API_URL": emulator.base_url,
        "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
        "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
        "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",  # the test emulator has no burst limit
        **openbao.environment(policy_only_token(openbao, prefix)),
        "HOME": str(home),
    }


def policy_only_token(openbao: OpenBaoServer, prefix: str = "gradient-keys") -> str:
    """A token with only the generated policy for `prefix` (its `*` covers every test's sub-prefix)."""
    root = vault_client(openbao)
    name = f"gradient-keys-tests-{prefix.replace('/', '-')}"
    root.sys.create_or_update_policy(name, render_policy("secret", prefix))
    created = root.auth.token.create(policies=[name], no_default_policy=True, ttl="4h")
    return str(created["auth"]["client_token"])


def manage(
    emulator: Emulator,
    openbao: OpenBaoServer,
    directory: Path,
    keys: list[dict[str, Any]],
    prefix: str,
    extra: dict[str, Any] | None = None,
) -> Managed:
    """Write a stack file, make the keys in the control panel, and adopt them with the core."""
    stack_file = directory / "Pulumi.rot.yaml"
    stack_file.write_text(
        yaml.safe_dump(
            {
                "config": {
                    "gradient-keys:vault": {"path_prefix": prefix},
                    "gradient-keys:keys": keys,
                    **(extra or {}),
                }
            }
        )
    )
    settings = load_stack_file(stack_file)
    env = environment(emulator, openbao, directory, prefix)
    ops = KeyOperations(KeyContext.of(settings), ClientFactory(env))
    states = {}
    for spec in settings.keys:
        for name in spec.slot_names:
            emulator.console_create(name)
        ops.vault.remove(spec.vault_path, "destroy")
        states[spec.name] = ops.create_or_adopt(spec)
    return Managed(directory, stack_file, env, {s.name: s for s in settings.keys}, states, prefix)
