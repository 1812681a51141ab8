"""Drive the real `pulumi` binary on a copy of this project: file backend, passphrase secrets,
offline (no update check, no plugin download), against the sandbox and a real OpenBao.

Each `PulumiProject` is a private project directory (the program and `Pulumi.yaml` copied, the
`components` package and the venv linked), a private `PULUMI_HOME` and state backend, and one
stack whose config the test writes. Commands run with a minimal environment: what the engine and
the program need, nothing of the test process's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PASSPHRASE = "gradient-keys-engine-tests"
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")


def find_pulumi() -> Path | None:
    """The engine scripts/setup provides: linked into .venv/bin, else a `pulumi` on PATH."""
    linked = VENV_BIN / "pulumi"
    if linked.exists():
        return linked
    found = shutil.which("pulumi")
    return Path(found) if found else None


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"pulumi {' '.join(self.args)} -> {self.returncode}\n{self.stdout}\n{self.stderr}"


@dataclass
class PulumiProject:
    root: Path
    pulumi: Path
    env: dict[str, str]
    stack: str = "test"
    runs: list[Run] = field(default_factory=list)

    @classmethod
    def create(
        cls, root: Path, pulumi: Path, service_env: dict[str, str], stack: str = "test"
    ) -> PulumiProject:
        project = root / "project"
        (project / "stacks").mkdir(parents=True)
        for name in PROJECT_FILES:
            shutil.copy2(REPO / name, project / name)
        (project / "components").symlink_to(REPO / "components", target_is_directory=True)
        (project / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
        (root / "state").mkdir()
        (root / "home").mkdir()
        engine_bin = pulumi.resolve().parent
        env = {
            "PATH": os.pathsep.join([str(engine_bin), str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(root / "home"),
            "PULUMI_HOME": str(root / "home" / ".pulumi"),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            **service_env,
        }
        made = cls(project, pulumi, env, stack)
        made.run("stack", "init", stack, "--secrets-provider", "passphrase")
        return made

    # -- configuration ------------------------------------------------------------------------
    @property
    def stack_file(self) -> Path:
        return self.root / "stacks" / f"Pulumi.{self.stack}.yaml"

    def configure(self, keys: list[dict[str, Any]], prefix: str, **sections: Any) -> None:
        """Write the stack config as a user would (plain YAML, no secrets)."""
        config: dict[str, Any] = {"gradient-keys:vault": {"path_prefix": prefix}, "gradient-keys:keys": keys}
        config.update({f"gradient-keys:{name}": value for name, value in sections.items()})
        self.stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))

    # -- commands -----------------------------------------------------------------------------
    def run(
        self, *args: str, ok: bool = True, env: dict[str, str] | None = None, timeout: float = 900
    ) -> Run:
        started = time.monotonic()
        result = subprocess.run(
            [str(self.pulumi), *args, "--non-interactive", "--color", "never"],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        run = Run(args, result.returncode, result.stdout, result.stderr, time.monotonic() - started)
        self.runs.append(run)
        if ok:
            assert run.returncode == 0, str(run)
        return run

    def preview(self, *args: str, **kwargs: Any) -> Run:
        return self.run("preview", "--diff", *args, **kwargs)

    def up(self, *args: str, **kwargs: Any) -> Run:
        return self.run("up", "--yes", "--skip-preview", *args, **kwargs)

    def refresh(self, *args: str, **kwargs: Any) -> Run:
        return self.run("refresh", "--yes", "--skip-preview", *args, **kwargs)

    def destroy(self, *args: str, **kwargs: Any) -> Run:
        return self.run("destroy", "--yes", "--skip-preview", *args, **kwargs)

    def outputs(self) -> dict[str, Any]:
        return dict(json.loads(self.run("stack", "output", "--json").stdout))

    def resources(self) -> list[dict[str, Any]]:
        """The stack's ModelAccessKey resources, from `pulumi stack export` (no secrets shown)."""
        deployment = json.loads(self.run("stack", "export").stdout)["deployment"]
        return [r for r in deployment.get("resources") or [] if r["type"].endswith("ModelAccessKey")]
