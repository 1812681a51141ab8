"""The first `pulumi up` of N keys made in the control panel, driven as the engine drives it (a
check of every key, then 8 creates at a time over gRPC in one provider process) and counted from
outside: DigitalOcean requests by operation at the emulator, Vault logins as the tokens Vault
holds. The floor (issue 16): the regenerates adoption must make (one per slot) plus one listing of
every page, ceil(keys / 200), however many keys; one Vault login for the process."""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hvac
import pytest

from components.config import parse_settings
from components.keys import KeyContext
from components.provider import inputs_for
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import environment
from tests.provider.harness import ProviderProcess, from_struct, with_provider
from tests.provider.test_provider_logins import approle_environment, tokens

ENGINE_PARALLELISM = 8  # `pulumi up` runs up to this many provider operations at once by default
PAGE = 200


def declaration(name: str, vault_path: str) -> dict[str, Any]:
    settings = parse_settings({"keys": [{"name": name, "vault_path": vault_path}]}, "test")
    return with_provider(
        inputs_for(settings.keys[0], KeyContext("test", settings.vault, settings.digitalocean))
    )


def first_up(provider: ProviderProcess, declared: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Check every key, then create them `ENGINE_PARALLELISM` at a time, as the engine does."""
    checked = {}
    for name, news in declared.items():
        answer = provider.check(name, {}, news)
        assert not answer.failures, answer.failures
        checked[name] = from_struct(answer.inputs)

    def create(name: str) -> tuple[str, dict[str, Any]]:
        return name, from_struct(provider.create(name, checked[name]).properties)

    with ThreadPoolExecutor(ENGINE_PARALLELISM) as pool:
        return dict(pool.map(create, declared))


@pytest.mark.parametrize(("keys", "others"), [(10, 0), (60, 250)], ids=["10-keys", "60-keys-2-pages"])
def test_first_up_costs_the_regenerates_plus_one_listing(
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    tmp_path: Path,
    keys: int,
    others: int,
) -> None:
    run = uuid.uuid4().hex[:6]
    declared = {}
    for i in range(keys):
        name = f"up{run}-{i:03d}"
        emulator.console_create(f"{name}-slot-a")
        emulator.console_create(f"{name}-slot-b")
        declared[name] = declaration(name, f"apps/first-up-{run}/{i:03d}")
    for i in range(others):  # keys this stack does not declare still fill the listing's pages
        emulator.console_create(f"someone-else-{run}-{i:03d}")
    account = len(emulator.store)
    env = approle_environment(root_vault, environment(emulator, openbao, tmp_path))
    emulator.stats.reset()
    before = tokens(root_vault)
    provider = ProviderProcess(env)
    try:
        created = first_up(provider, declared)
    finally:
        provider.close()

    requests = emulator.stats.view()["requests"]
    lists = math.ceil(account / PAGE)
    assert requests == {"list": {"200": lists}, "regenerate": {"200": 2 * keys}}, (
        f"{keys} keys: {sum(sum(v.values()) for v in requests.values())} requests, floor {2 * keys + lists}"
    )
    assert tokens(root_vault) - before == 1, "more than one Vault login in one provider process"
    assert {k.name for k in emulator.store.list() if k.regenerations != 1} == {
        k.name for k in emulator.store.list() if k.name.startswith("someone-else")
    }  # every declared slot regenerated exactly once, nothing else touched
    assert all(outs["fingerprint"] and outs["active_slot"] == "a" for outs in created.values())
