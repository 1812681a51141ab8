"""Failures through the real engine: DigitalOcean answering 500 and Vault unreachable during
`pulumi up` end with a clear message, leave nothing half-done, and the next `up` converges."""

from __future__ import annotations

import socket
from collections.abc import Callable

import hvac
import pytest

from sandbox.server import Emulator
from tests.pulumi_cli.engine import PulumiProject, Run
from tests.pulumi_cli.stackkit import DUAL, IN_PLACE, accepted, make_in_panel, requests_made, vault_secret


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_clear_failure(run: Run, *phrases: str) -> None:
    assert run.returncode != 0, run
    assert "Traceback" not in run.output, run  # the message, not the provider's internals
    for phrase in phrases:
        assert phrase in run.output, run


def test_digitalocean_500_during_up(
    make_project: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    make_in_panel(emulator, [DUAL, IN_PLACE])
    project = make_project()
    project.configure([DUAL, IN_PLACE], prefix)
    emulator.inject(operation="regenerate", kind="error", status=500, times=1000)

    failed = project.up(ok=False)
    assert_clear_failure(failed, "DigitalOcean regenerate", "HTTP 500")
    # Nothing half-done: no secret reached Vault, no resource reached the state.
    for key in (DUAL, IN_PLACE):
        with pytest.raises(hvac.exceptions.InvalidPath):
            vault_secret(root_vault, prefix, key["vault_path"])
    assert project.resources() == []

    emulator.faults.clear()
    project.up()
    for key in (DUAL, IN_PLACE):
        secret, _version = vault_secret(root_vault, prefix, key["vault_path"])
        assert accepted(emulator, secret)
    project.preview("--expect-no-changes")


def test_vault_unreachable_during_up(
    make_project: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    make_in_panel(emulator, [DUAL, IN_PLACE])
    project = make_project()
    project.configure([DUAL], prefix)
    project.up()
    before, version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    regenerated = requests_made(emulator, "regenerate")

    # A rotation is due (new token) and a new key is declared, and Vault is down.
    project.configure([{**DUAL, "rotation_token": "r1"}, IN_PLACE], prefix)
    down = {"VAULT_ADDR": f"http://127.0.0.1:{closed_port()}"}
    failed = project.up(ok=False, env=down)
    assert_clear_failure(failed, "Vault", "unreachable")
    assert requests_made(emulator, "regenerate") == regenerated  # nothing minted a secret
    assert vault_secret(root_vault, prefix, DUAL["vault_path"]) == (before, version)
    assert accepted(emulator, before)  # consumers are untouched

    project.up()
    after, _version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    assert after != before and accepted(emulator, after)
    secret, _version = vault_secret(root_vault, prefix, IN_PLACE["vault_path"])
    assert accepted(emulator, secret)
    project.up("--expect-no-changes")
