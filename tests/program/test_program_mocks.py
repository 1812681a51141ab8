"""The Pulumi program under Pulumi's mocks (the engine itself cannot run here)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import __version__

PROGRAM = Path(__file__).resolve().parents[2] / "__main__.py"


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def run_program(config: dict[str, str]) -> dict[str, Any]:
    pulumi.runtime.set_mocks(Mocks(), project="gradient-keys", stack="test", preview=False)
    pulumi.runtime.set_all_config(config)
    return runpy.run_path(str(PROGRAM), run_name="__main__")


def test_empty_stack_runs() -> None:
    namespace = run_program({"gradient-keys:keys": "[]"})
    assert namespace["__version__"] == __version__


def test_declared_keys_are_refused_with_a_reason() -> None:
    with pytest.raises(pulumi.RunError, match="cannot manage keys from Pulumi yet"):
        run_program({"gradient-keys:keys": '[{"name": "chatbot"}]'})
