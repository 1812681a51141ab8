"""Nothing below the front ends reads the process environment (issue 13): the command
(components/cli.py), the provider (components/provider.py) and the Pulumi program (__main__.py)
build a ClientFactory from `os.environ`; every other module gets what it needs handed in, so the
core is tested with an environment of the test's own."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FRONT_ENDS = {"cli.py", "provider.py"}
NAMES = {"environ", "environb", "getenv"}


def reads_environment(source: str) -> list[int]:
    """Lines that touch `os.environ`, `os.getenv` or `os.environb`, however imported."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        attribute = (
            isinstance(node, ast.Attribute)
            and node.attr in NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )
        imported = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in NAMES for alias in node.names)
        )
        if attribute or imported:
            lines.append(getattr(node, "lineno", 0))
    return lines


def test_the_scanner_finds_every_form() -> None:
    assert reads_environment("import os\nos.environ.get('X')\n") == [2]
    assert reads_environment("import os\nos.getenv('X')\n") == [2]
    assert reads_environment("from os import environ\n") == [1]
    assert reads_environment("import os\nos.path.join('a')\n") == []


def test_only_the_front_ends_read_the_environment() -> None:
    offenders = {
        path.name: lines
        for path in sorted((REPO / "components").glob("*.py"))
        if path.name not in FRONT_ENDS and (lines := reads_environment(path.read_text()))
    }
    assert offenders == {}, f"modules below the front ends read os.environ: {offenders}"
