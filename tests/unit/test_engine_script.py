"""scripts/engine's choices, on a copy of the script and the engine pins: a user's new-enough
`pulumi` is used as it is, an old or other-major one is not, a cached build is linked, and with
neither Go nor Pulumi it says what to install and lets setup go on."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PINNED = "v3.274.1"
TOOLS = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python")


def fake_tool(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "engine", root / "scripts" / "engine")
    shutil.copytree(REPO / "engine", root / "engine")
    return root


def run(checkout: Path, path_dirs: list[Path], **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/engine with a PATH of our choosing (no Go on it unless a test adds one)."""
    return subprocess.run(
        ["/bin/bash", str(checkout / "scripts" / "engine")],
        env={
            "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
            "HOME": str(checkout.parent / "home"),
            "GRADIENT_KEYS_ENGINE_CACHE": str(checkout.parent / "cache"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_new_enough_pulumi_on_path_is_used_as_it_is(checkout: Path) -> None:
    fake_tool(checkout.parent / "own" / "pulumi", "v3.250.0")
    result = run(checkout, [checkout.parent / "own"])
    assert result.returncode == 0, result.stderr
    assert "using" in result.stderr and "v3.250.0" in result.stderr
    assert not (checkout / ".venv" / "bin" / "pulumi").exists()


@pytest.mark.parametrize("version", ["v3.100.0", "v4.0.0", ""], ids=["too-old", "other-major", "no-version"])
def test_an_unusable_pulumi_is_not_used_and_without_go_setup_says_what_to_install(
    checkout: Path, version: str
) -> None:
    fake_tool(checkout.parent / "own" / "pulumi", version)
    result = run(checkout, [checkout.parent / "own"])
    assert result.returncode == 0, result.stderr  # setup goes on; the engine tier says why it skips
    assert "needs >= 3.200.0" in result.stderr
    assert "no Go toolchain" in result.stderr and "install Pulumi" in result.stderr
    assert not (checkout / ".venv" / "bin" / "pulumi").exists()


def test_a_cached_build_is_linked_into_the_venv(checkout: Path) -> None:
    inputs = [
        checkout / "engine" / "cli" / "go.mod",
        checkout / "engine" / "cli" / "go.sum",
        checkout / "engine" / "language-python" / "go.mod",
        checkout / "engine" / "language-python" / "go.sum",
        checkout / "scripts" / "engine",
    ]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()[:12]
    cached = checkout.parent / "cache" / f"pulumi-{PINNED}-{key}" / "bin"
    for tool in TOOLS:
        fake_tool(cached / tool, PINNED)
    result = run(checkout, [])
    assert result.returncode == 0, result.stderr
    assert f"pulumi {PINNED} (cached" in result.stderr
    for tool in TOOLS:
        assert (checkout / ".venv" / "bin" / tool).resolve() == cached / tool

    # A cached build that does not report the pinned version is not trusted: it is rebuilt.
    fake_tool(cached / "pulumi", "v3.0.0")
    stale = run(checkout, [])
    assert "no Go toolchain" in stale.stderr, stale.stderr


def test_skip(checkout: Path) -> None:
    result = run(checkout, [], GRADIENT_KEYS_ENGINE="skip")
    assert result.returncode == 0 and "skipped" in result.stderr
