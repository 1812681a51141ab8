"""What the engine-tier tests observe besides the engine: keys in the sandbox's control panel,
secrets in Vault, and whether a secret is accepted by the inference endpoint."""

from __future__ import annotations

import math
from typing import Any

import hvac
import requests

from sandbox.server import Emulator

DUAL = {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}
IN_PLACE = {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "on_delete": "destroy"}


def slot_names(key: dict[str, Any]) -> list[str]:
    if key.get("strategy") == "in-place":
        return [key["name"]]
    return [f"{key['name']}-slot-a", f"{key['name']}-slot-b"]


def make_in_panel(emulator: Emulator, keys: list[dict[str, Any]]) -> dict[str, str]:
    """Make each declared key's DigitalOcean keys as a user does in the control panel; returns the
    secrets the panel showed (by key name), which adoption must retire."""
    shown = {}
    for key in keys:
        for name in slot_names(key):
            shown[name] = emulator.console_create(name)["secret_key"]
    return shown


def vault_secret(vault: hvac.Client, prefix: str, path: str) -> tuple[str, int]:
    """The current secret at a key's Vault path and its version (read as a consumer does)."""
    reply = vault.secrets.kv.v2.read_secret_version(
        f"{prefix}/{path}", mount_point="secret", raise_on_deleted_version=True
    )
    return str(reply["data"]["data"]["api_key"]), int(reply["data"]["metadata"]["version"])


def vault_versions(vault: hvac.Client, prefix: str, paths: list[str]) -> dict[str, int]:
    return {p: vault_secret(vault, prefix, p)[1] for p in paths}


def accepted(emulator: Emulator, secret: str) -> bool:
    """One inference call, as a consumer makes it."""
    reply = requests.post(
        f"{emulator.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "llama3.3-70b-instruct", "messages": [{"role": "user", "content": "ping"}]},
        timeout=10,
    )
    return reply.status_code == 200


def requests_made(emulator: Emulator, operation: str) -> int:
    """How many requests of one kind (list, regenerate, ...) the sandbox has answered."""
    return sum(emulator.stats.view()["requests"].get(operation, {}).values())


def list_floor(keys_at_digitalocean: int) -> int:
    return max(1, math.ceil(keys_at_digitalocean / 200))
