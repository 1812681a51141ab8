"""Zero downtime, proven by a live consumer: a separate process that reads the key from Vault
every 0.2 s and calls the emulator's /v1/chat/completions every 0.05 s while the key is rotated
through the provider (over gRPC) and through the command, alternately."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from components.config import DigitalOceanConfig, VaultConfig
from components.keys import KeyContext
from components.provider import inputs_for
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage
from tests.live_consumer import INTERVAL, REFRESH, LiveConsumer
from tests.provider.harness import ProviderProcess, from_struct, with_provider

SPACING = 1.0


@pytest.fixture
def dual(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    keys = [
        {"name": "chatbot", "vault_path": "apps/chatbot"},
        {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place"},
    ]
    return manage(emulator, openbao, tmp_path, keys, prefix=f"gradient-keys/live-{tmp_path.name[-8:]}")


@pytest.fixture
def provider(dual: Managed) -> Iterator[ProviderProcess]:
    process = ProviderProcess(dual.env)
    yield process
    process.close()


def rotate_alternately(managed: Managed, provider: ProviderProcess, key: str, rotations: int) -> list[str]:
    """Rotate `rotations` times, alternating the provider path and the command path."""
    spec = managed.specs[key]
    context = KeyContext("rot", VaultConfig(path_prefix=managed.prefix), DigitalOceanConfig())
    outs = {**inputs_for(spec, context), **managed.states[key].as_dict(), "plan": "", "pending_rotation": ""}
    paths = []
    for i in range(rotations):
        time.sleep(SPACING)
        if i % 2 == 0:
            news = from_struct(
                provider.check(
                    key,
                    outs,
                    with_provider(
                        inputs_for(
                            spec.__class__(**{**spec.__dict__, "rotation_token": f"live-{i}"}), context
                        )
                    ),
                ).inputs
            )
            assert news["pending_rotation"], news
            outs = from_struct(provider.update(key, "id", outs, news).properties)
            paths.append("provider")
        else:
            # --force: the minimum interval protects consumers slower than this one, which re-reads
            # Vault every 0.2 s; rotating every second is the point of the test.
            code, document, err = managed.rotate(key, "--force")
            assert code == 0, err
            outs = {**outs, "active_slot": document["keys"][0]["active_slot"]}
            paths.append("command")
    time.sleep(SPACING)
    return paths


@pytest.mark.slow
def test_dual_slot_rotations_cost_consumers_nothing(dual: Managed, provider: ProviderProcess) -> None:
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/chatbot")
    paths = rotate_alternately(dual, provider, "chatbot", rotations=6)
    summary = consumer.stop()
    assert paths.count("provider") == 3 and paths.count("command") == 3
    assert summary["key_changes"] >= 6
    assert summary["calls"] > 100
    assert summary["failed"] == 0, summary


@pytest.mark.slow
def test_in_place_rotations_cost_a_bounded_blip(dual: Managed, provider: ProviderProcess) -> None:
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/batch")
    rotate_alternately(dual, provider, "batch", rotations=6)
    summary = consumer.stop()
    assert summary["key_changes"] >= 6
    # The old secret dies at the regenerate; a consumer is blind until its next Vault read.
    per_rotation = REFRESH / INTERVAL + 3
    assert summary["failed"] <= 6 * per_rotation, summary
    print(f"in-place: {summary['failed']} failed of {summary['calls']} calls over 6 rotations")


@pytest.mark.slow
def test_emergency_refuses_old_secrets_at_once_and_consumers_recover(
    dual: Managed, emulator: Emulator
) -> None:
    old = dual.sink().read_secret("apps/chatbot")[0]
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/chatbot")
    time.sleep(0.5)
    code, _document, err = dual.rotate("chatbot", "--emergency")
    assert code == 0, err
    refused = requests.get(
        f"{emulator.base_url}/v1/models", headers={"Authorization": f"Bearer {old.reveal()}"}, timeout=5
    )
    assert refused.status_code == 401  # at once
    time.sleep(1.5)
    summary = consumer.stop()
    elapsed = time.monotonic() - consumer.started
    assert summary["key_changes"] >= 1
    assert (
        not summary["failures_at"] or max(summary["failures_at"]) < elapsed - 1.0
    )  # recovered on its next read
