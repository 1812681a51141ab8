"""Keys as `pulumi up` leaves them, made fast: for the bulk-rotation benchmark and its test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.server import Emulator

__all__ = ["rotate_command", "seed_due_dual_slot"]


def seed_due_dual_slot(
    emulator: Emulator, sink: VaultSink, count: int, stack_file: Path, name: str = "bulk"
) -> list[dict[str, Any]]:
    """`count` dual-slot keys made in the control panel, their secrets in Vault, last rotated long
    ago (so all are due), and the stack file that declares them (rotate_every 30d)."""
    keys = []
    for i in range(count):
        a = emulator.console_create(f"{name}-{i:05d}-slot-a")
        b = emulator.console_create(f"{name}-{i:05d}-slot-b")
        secret = Secret(a["secret_key"])
        ledger = Ledger(
            secret.fingerprint, "2026-01-01T00:00:00Z", slot_a=a["uuid"], slot_b=b["uuid"], stack=name
        )
        sink.write(f"apps/{i:05d}", secret, ledger, 0)
        keys.append({"name": f"{name}-{i:05d}", "vault_path": f"apps/{i:05d}", "rotate_every": "30d"})
    config = {"gradient-keys:vault": {"path_prefix": sink.prefix}, "gradient-keys:keys": keys}
    stack_file.write_text(yaml.safe_dump({"config": config}))
    return keys


def rotate_command(stack_file: Path, python: str) -> list[str]:
    """`gradient-keys rotate --due` on that stack, as a scheduled job would run it."""
    return [
        python,
        "-m",
        "components.cli",
        "rotate",
        "--config",
        str(stack_file),
        "--due",
        "--format",
        "json",
    ]
