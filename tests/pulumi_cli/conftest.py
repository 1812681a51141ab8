"""Fixtures for the engine tier: the real `pulumi` binary, a private project per test, and a
Vault token holding only the shipped policy."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hvac
import pytest

from components.vault_policy import render_policy
from sandbox.openbao import OpenBaoServer
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.pulumi_cli.engine import PulumiProject, find_pulumi
from tests.pulumi_cli.stackkit import make_in_panel

NO_ENGINE = (
    "no Pulumi engine here: scripts/setup builds one where Go is installed (or uses a `pulumi` "
    ">= 3.200 on PATH); see docs/pulumi.md, 'The engine'"
)


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    found = find_pulumi()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the engine tier: {NO_ENGINE}")
        pytest.skip(NO_ENGINE)
    return found


def service_env(emulator: Emulator, openbao: OpenBaoServer, vault_token: str | None = None) -> dict[str, str]:
    return {
        "DIGITALOCEAN_API_URL": emulator.base_url,
        "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
        "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
        "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",  # the test emulator has no burst limit
        **openbao.environment(vault_token),
    }


@pytest.fixture
def prefix() -> str:
    """A Vault path prefix of the test's own, so tests sharing the server never meet."""
    return f"engine-tests/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def policy_token(root_vault: hvac.Client, prefix: str) -> str:
    """A token with only the policy `gradient-keys vault policy` prints for this prefix: not root,
    not even Vault's default policy."""
    name = f"gradient-keys-{uuid.uuid4().hex[:8]}"
    root_vault.sys.create_or_update_policy(name, render_policy("secret", prefix))
    created = root_vault.auth.token.create(policies=[name], no_default_policy=True, ttl="1h")
    return str(created["auth"]["client_token"])


@pytest.fixture
def make_project(
    pulumi_bin: Path, emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> Callable[..., PulumiProject]:
    made = 0

    def factory(vault_token: str | None = None) -> PulumiProject:
        nonlocal made
        made += 1
        return PulumiProject.create(
            tmp_path / f"p{made}", pulumi_bin, service_env(emulator, openbao, vault_token)
        )

    return factory


@pytest.fixture
def adopted(
    make_project: Callable[..., PulumiProject], emulator: Emulator, prefix: str
) -> Callable[[list[dict[str, Any]]], PulumiProject]:
    """A stack whose keys were made in the control panel and adopted by a first `pulumi up`."""

    def factory(keys: list[dict[str, Any]]) -> PulumiProject:
        make_in_panel(emulator, keys)
        project = make_project()
        project.configure(keys, prefix)
        project.up()
        return project

    return factory
