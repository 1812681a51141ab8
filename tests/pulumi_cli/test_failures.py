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


@pytest.mark.parametrize("after", [0, 1], ids=["first-regenerate-fails", "second-regenerate-fails"])
def test_digitalocean_500_during_up(
    make_project: Callable[..., PulumiProject],
    emulator: Emulator,
    root_vault: hvac.Client,
    prefix: str,
    after: int,
) -> None:
    shown = make_in_panel(emulator, [DUAL])
    project = make_project()
    project.configure([DUAL], prefix)
    emulator.inject(operation="regenerate", kind="error", status=500, times=1000, after=after)

    failed = project.up(ok=False)
    assert_clear_failure(failed, "DigitalOcean regenerate", "HTTP 500")
    assert project.resources() == []  # no resource in state that is not complete
    if after == 0:  # nothing minted: Vault untouched
        with pytest.raises(hvac.exceptions.InvalidPath):
            vault_secret(root_vault, prefix, DUAL["vault_path"])
    else:  # the active slot's secret is stored before any other slot is touched
        assert "run the same operation again" in failed.output, failed
        held, _version = vault_secret(root_vault, prefix, DUAL["vault_path"])
        assert accepted(emulator, held)
        assert accepted(emulator, shown["chatbot-slot-b"])  # not yet retired: the error says so

    emulator.faults.clear()
    project.up()
    secret, _version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    assert accepted(emulator, secret)
    if after == 1:
        assert secret == held  # converging keeps the secret consumers already hold
    assert not any(accepted(emulator, s) for s in shown.values())  # every panel secret retired
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
