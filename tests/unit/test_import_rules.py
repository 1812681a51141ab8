"""Import rules between the two packages.

- `sandbox` imports nothing from `components`, so that it can become a package of its own.
- `import components.cli` does not load the emulator (its HTTP server, key table, inference and
  fault modules): the sandbox commands import it when they run.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EMULATOR = (
    "sandbox.emulator",
    "sandbox.faults",
    "sandbox.gen_ai_models",
    "sandbox.inference",
    "sandbox.inference.async_invoke",
    "sandbox.inference.catalogue",
    "sandbox.inference.chat",
    "sandbox.inference.chat_request",
    "sandbox.inference.chat_stream",
    "sandbox.inference.fields",
    "sandbox.inference.images",
    "sandbox.inference.logprobs",
    "sandbox.inference.messages",
    "sandbox.inference.png",
    "sandbox.inference.prompt_cache",
    "sandbox.inference.reasoning",
    "sandbox.inference.response_events",
    "sandbox.inference.responses",
    "sandbox.inference.routes",
    "sandbox.inference.tokens",
    "sandbox.inference.wav",
    "sandbox.ratelimit",
    "sandbox.server",
    "sandbox.store",
)


def imported(source: str) -> set[str]:
    """Every module a source names in an import, wherever it is (top level, a function, a
    TYPE_CHECKING block) and however (`import`, `from ... import`, importlib.import_module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def from_components(names: set[str]) -> set[str]:
    return {name for name in names if name == "components" or name.startswith("components.")}


def test_the_sandbox_imports_nothing_from_components() -> None:
    sources = sorted((REPO / "sandbox").rglob("*.py"))
    assert sources, "no sandbox sources found"
    offenders = {
        f"{path.relative_to(REPO)}: {name}"
        for path in sources
        for name in from_components(imported(path.read_text()))
    }
    assert offenders == set()


@pytest.mark.parametrize(
    "source",
    [
        "from components.errors import GradientKeysError",
        "import components.terminal as terminal",
        "from components import cli",
        "def later():\n    from components.secret import Secret",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import components",
        "import importlib\nimportlib.import_module('components.config')",
    ],
    ids=["from", "import-as", "from-package", "in-a-function", "type-checking", "importlib"],
)
def test_the_rule_sees_an_import_from_components_however_written(source: str) -> None:
    assert from_components(imported(textwrap.dedent(source)))


def test_the_rule_lets_lookalikes_pass() -> None:
    assert from_components(imported("import components_extra\nfrom sandbox import processes")) == set()


def loaded_after(code: str) -> list[str]:
    """The sandbox modules loaded once `code` ran in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint(sorted(m for m in sys.modules if m.startswith('sandbox')))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_command_does_not_load_the_emulator() -> None:
    loaded = loaded_after("import components.cli")
    assert [name for name in loaded if name in EMULATOR] == []


def test_the_check_sees_the_emulator_once_it_is_loaded() -> None:
    assert set(EMULATOR) <= set(loaded_after("import components.cli\nimport sandbox.emulator"))


def test_a_command_other_than_sandbox_runs_without_the_emulator() -> None:
    """The parser takes `sandbox up|serve`'s options from sandbox.options, and the sandbox package
    loads its classes on first use: building the parser loads no emulator module."""
    loaded = loaded_after("from components import cli\ncli._parser()")
    assert [name for name in loaded if name in EMULATOR] == []
