"""The real `pulumi` binary on the dev stack against the sandbox: preview, up, refresh, destroy.

Pulumi's CLI (the engine) is not installable from the package registries this project's CI can
reach, so this tier is skipped there, with the reason. Everywhere the binary is on PATH it runs:
a local file backend in a temporary folder, a copy of the project, the sandbox emulator and a real
OpenBao.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml

from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import DEFAULT_TOKEN, Emulator

REPO = Path(__file__).resolve().parents[2]
PULUMI = shutil.which("pulumi")

pytestmark = pytest.mark.skipif(
    PULUMI is None,
    reason="the Pulumi CLI is not installed (no package registry here ships the engine); "
    "install it from pulumi.com to run preview/up/refresh/destroy on the dev stack",
)


def pulumi(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert PULUMI is not None
    result = subprocess.run(
        [PULUMI, *args, "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"pulumi {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_dev_stack_preview_up_refresh_destroy(
    emulator: Emulator, openbao: OpenBaoServer, root_vault: hvac.Client, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".*cache"))
    (project / ".venv").symlink_to(REPO / ".venv")
    dev = yaml.safe_load((project / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    for key in dev["gradient-keys:keys"]:
        names = (
            [key["name"]]
            if key.get("strategy") == "in-place"
            else [f"{key['name']}-slot-a", f"{key['name']}-slot-b"]
        )
        for name in names:
            emulator.console_create(name)
    env: dict[str, Any] = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "gradient-keys-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "DIGITALOCEAN_API_URL": emulator.base_url,
        "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
        "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
        "VAULT_ADDR": openbao.address,
        "VAULT_TOKEN": openbao.root_token,
    }
    (tmp_path / "state").mkdir()
    pulumi(project, env, "stack", "select", "--create", "dev")
    preview = pulumi(project, env, "preview", "--diff")
    assert "regenerate once" in preview.stdout  # the plan shows what adoption does
    pulumi(project, env, "up", "--yes")
    prefix = dev["gradient-keys:vault"]["path_prefix"]
    sink = VaultSink(
        path_prefix=prefix, environ={"VAULT_ADDR": openbao.address, "VAULT_TOKEN": openbao.root_token}
    )
    for key in dev["gradient-keys:keys"]:
        secret, _entry = sink.read_secret(key["vault_path"])
        assert emulator.store.find_by_secret(secret.reveal()) is not None
    state = pulumi(project, env, "stack", "export").stdout
    assert "sk-do-" not in state  # no secret in the state, __provider included
    refreshed = pulumi(project, env, "refresh", "--yes")
    assert "error" not in refreshed.stdout.lower()
    pulumi(project, env, "destroy", "--yes")
    assert len(emulator.store) == 0
