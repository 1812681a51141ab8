"""scripts/engine's choices, on a copy of the script and the engine pins: a user's new-enough
`pulumi` is used as it is, an old or other-major one is not, a cached build is linked, and with
neither Go nor Pulumi it says what to install and lets setup go on."""

from __future__ import annotations

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


def run(checkout: Path, path_dirs: list[Path], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/engine with a PATH of our choosing (no Go on it unless a test adds one)."""
    return subprocess.run(
        ["/bin/bash", str(checkout / "scripts" / "engine"), *args],
        env={
            "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
            "HOME": str(checkout.parent / "home"),
            "GRADIENT_KEYS_ENGINE_CACHE": str(checkout.parent / "cache"),
            "GRADIENT_KEYS_GO": str(checkout.parent / "no-go-here"),
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
    cached = where(checkout) / "bin"
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
    assert not (checkout / ".venv" / "bin" / "pulumi").exists()  # no link left to a build not trusted


def where(checkout: Path) -> Path:
    """The cache directory the script uses, as `scripts/engine --where` prints it."""
    found = run(checkout, [], "--where")
    assert found.returncode == 0, found.stderr
    return Path(found.stdout.strip())


def test_our_own_link_on_path_is_not_taken_for_a_users_pulumi(checkout: Path) -> None:
    cached = where(checkout) / "bin"
    for tool in TOOLS:
        fake_tool(cached / tool, PINNED)
    assert "(cached" in run(checkout, []).stderr  # linked into the checkout's .venv/bin
    venv_bin_spelled_otherwise = Path(f"{checkout / '.venv' / 'bin'}/")
    again = run(checkout, [venv_bin_spelled_otherwise])  # the venv on PATH, activated
    assert "(cached" in again.stderr and "using" not in again.stderr, again.stderr
    assert (checkout / ".venv" / "bin" / "pulumi").is_symlink()


def test_a_go_older_than_the_build_needs_is_not_used(checkout: Path) -> None:
    fake_go = checkout.parent / "oldgo" / "go"
    fake_go.parent.mkdir()
    fake_go.write_text('#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go1.25.3 || echo linux amd64\n')
    fake_go.chmod(0o755)
    result = run(checkout, [fake_go.parent])
    assert result.returncode == 0, result.stderr
    assert "go1.25.3 is older than the go1.26.6 the build needs" in result.stderr


def test_go_outside_path_is_found_at_its_install_location(checkout: Path) -> None:
    fake_go = checkout.parent / "goroot" / "bin" / "go"
    fake_go.parent.mkdir(parents=True)
    fake_go.write_text('#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go1.25.0 || echo linux amd64\n')
    fake_go.chmod(0o755)
    result = run(checkout, [], GRADIENT_KEYS_GO=str(fake_go))
    assert "go1.25.0 is older than" in result.stderr, result.stderr  # it was found, and judged


def test_skip(checkout: Path) -> None:
    result = run(checkout, [], GRADIENT_KEYS_ENGINE="skip")
    assert result.returncode == 0 and "skipped" in result.stderr
