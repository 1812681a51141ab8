"""README's main-job command, as a user runs it: `scripts/try-sandbox` does the whole job (keys
made in the control panel, `pulumi up`, the secret from Vault used for inference calls, rotate,
audit, destroy), prints no secret, and leaves the checkout as it was."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandbox.server import DEFAULT_TOKEN
from tests.pulumi_cli.engine import find_pulumi

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_try_sandbox_does_the_main_job(tmp_path: Path) -> None:
    if find_pulumi() is None and not os.environ.get("CI"):
        pytest.skip("no Pulumi engine here (see docs/pulumi.md, 'The engine')")
    tracked = {p: p.read_bytes() for p in (REPO / "stacks").iterdir()}
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "try-sandbox")],
        cwd=tmp_path,
        # The user's HOME (where the engine is cached); its temporary files in a folder we can check.
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    steps = (
        "3 created",
        "answered 200, 0 failed",
        "rotated 1",
        "gradient-keys rotate",
        "no findings",
        "3 deleted",
    )
    for step in (*steps, "done:"):
        assert step in output, f"{step!r} missing:\n{output}"
    assert "sk-do-" not in output and DEFAULT_TOKEN not in output
    assert {p: p.read_bytes() for p in (REPO / "stacks").iterdir()} == tracked
    assert list(tmp_path.iterdir()) == [], "try-sandbox left files behind"
