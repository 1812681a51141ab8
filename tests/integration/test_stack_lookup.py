"""`--stack NAME` finds the stack as `pulumi` does: the project is the nearest directory holding
Pulumi.yaml, from the current directory upward (or `--project DIR`), and the stack's file is
Pulumi.NAME.yaml in its stackConfigDir. `--stack` with `--config` is a usage error (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.errors import ExitCode
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, manage

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/look-{tmp_path.name[-8:]}")


def project(root: Path, managed: Managed, config_dir: str | None = "stacks") -> Path:
    """A Pulumi project at `root` holding the managed stack as `prod`."""
    root.mkdir(parents=True)
    setting = f"stackConfigDir: {config_dir}\n" if config_dir else ""
    (root / "Pulumi.yaml").write_text(f"name: keys\nruntime: python\n{setting}")
    stacks = root / config_dir if config_dir else root
    stacks.mkdir(exist_ok=True)
    (stacks / "Pulumi.prod.yaml").write_text(managed.stack_file.read_text())
    return root


def audit(managed: Managed, cwd: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "components.cli", "audit", "--format", "json", *args],
        cwd=cwd,
        env={**os.environ, **managed.env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def test_the_stack_is_found_from_a_subdirectory_of_the_project(managed: Managed, tmp_path: Path) -> None:
    root = project(tmp_path / "infra", managed)
    code, document, err = audit(managed, root / "app" / "deep", "--stack", "prod")
    assert code == ExitCode.OK, err
    assert document["stack"] == "prod" and document["summary"]["keys_declared"] == 1


def test_a_project_without_stack_config_dir_keeps_stacks_beside_pulumi_yaml(
    managed: Managed, tmp_path: Path
) -> None:
    root = project(tmp_path / "infra", managed, config_dir=None)
    code, document, err = audit(managed, root / "sub", "--stack", "prod")
    assert code == ExitCode.OK and document["stack"] == "prod", err


def test_project_names_the_project_from_anywhere(managed: Managed, tmp_path: Path) -> None:
    root = project(tmp_path / "infra", managed)
    code, document, err = audit(managed, tmp_path / "elsewhere", "--stack", "prod", "--project", str(root))
    assert code == ExitCode.OK and document["stack"] == "prod", err
    code, document, err = audit(
        managed, tmp_path / "elsewhere", "--stack", "prod", "--project", str(tmp_path)
    )
    assert code == ExitCode.USAGE and "--project" in document["error"]["message"], err


def test_no_project_above_is_a_usage_error_that_says_what_to_pass(managed: Managed, tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir(exist_ok=True)  # a stacks/ here is not a project
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(managed.stack_file.read_text())
    code, document, err = audit(managed, tmp_path, "--stack", "prod")
    assert code == ExitCode.USAGE, err
    message = document["error"]["message"]
    assert "Pulumi.yaml" in message and "--project" in message and "--config" in message


def test_stack_with_config_is_a_usage_error_naming_both(managed: Managed, tmp_path: Path) -> None:
    code, document, err = audit(managed, tmp_path, "--stack", "prod", "--config", str(managed.stack_file))
    assert code == ExitCode.USAGE
    assert "--stack" in document["error"]["message"] and "--config" in document["error"]["message"]
    assert "--stack" in err and "--config" in err


def test_a_config_file_names_its_stack(managed: Managed, tmp_path: Path) -> None:
    code, document, err = audit(managed, tmp_path, "--config", str(managed.stack_file))
    assert code == ExitCode.OK and document["stack"] == "rot", err  # Pulumi.rot.yaml


def test_an_unknown_stack_names_the_stacks_the_project_has(managed: Managed, tmp_path: Path) -> None:
    root = project(tmp_path / "infra", managed)
    (root / "stacks" / "Pulumi.staging.yaml").write_text(managed.stack_file.read_text())
    code, document, err = audit(managed, root, "--stack", "prdo")
    assert code == ExitCode.USAGE, err
    message = document["error"]["message"]
    assert message.startswith(f"no stack 'prdo' in the Pulumi project {root}")
    assert message.endswith("its stacks: prod, staging")
    code, document, err = audit(managed, root, "--config", str(root / "nope.yaml"))
    assert code == ExitCode.USAGE and "check the path (--config FILE)" in document["error"]["message"]
