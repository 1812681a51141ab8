"""200 keys through the real engine at its default parallelism: no error, and a refresh lists
DigitalOcean's keys at the floor, ceil(keys / 200) requests, however many resources read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hvac
import pytest

from sandbox.server import Emulator
from tests.pulumi_cli.engine import PulumiProject
from tests.pulumi_cli.stackkit import (
    accepted,
    list_floor,
    make_in_panel,
    requests_made,
    slot_names,
    vault_secret,
)

DECLARED = 200


def declared_keys() -> list[dict[str, Any]]:
    """Half dual-slot, half in-place: 300 DigitalOcean keys, two pages of 200."""
    keys: list[dict[str, Any]] = []
    for i in range(DECLARED):
        key: dict[str, Any] = {"name": f"svc-{i:03d}", "vault_path": f"apps/svc-{i:03d}"}
        if i % 2:
            key["strategy"] = "in-place"
        keys.append(key)
    return keys


@pytest.mark.slow
def test_two_hundred_keys(
    make_project: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    keys = declared_keys()
    make_in_panel(emulator, keys)
    at_digitalocean = sum(len(slot_names(k)) for k in keys)
    project = make_project()
    project.configure(keys, prefix)

    up = project.up()
    assert f"{DECLARED + 1} created" in up.stdout, up  # and the stack itself
    for key in (keys[0], keys[-1]):
        secret, _version = vault_secret(root_vault, prefix, key["vault_path"])
        assert accepted(emulator, secret)

    lists = requests_made(emulator, "list")
    refresh = project.refresh("--expect-no-changes")
    refresh_lists = requests_made(emulator, "list") - lists
    assert refresh_lists == list_floor(at_digitalocean) == 2, refresh_lists

    lists = requests_made(emulator, "list")
    preview = project.preview("--expect-no-changes")
    assert requests_made(emulator, "list") - lists == 0  # existing keys: a preview reads only Vault
    print(
        f"{DECLARED} keys ({at_digitalocean} at DigitalOcean): up {up.seconds:.1f} s, "
        f"refresh {refresh.seconds:.1f} s with {refresh_lists} list requests, preview {preview.seconds:.1f} s"
    )
