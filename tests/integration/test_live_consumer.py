"""Zero downtime, proven by a live consumer: a separate process that reads the key from Vault
every 0.2 s and calls the emulator's /v1/chat/completions every 0.05 s while the key is rotated
through the provider (over gRPC) and through the command, alternately. The same through each
official SDK (`openai`, `gradient`, strict response validation, retries off), whose consumer reads
Vault before every call, while `gradient-keys rotate KEY` rotates.

Each rotation starts once the consumer calls with the secret the previous one stored (as a real
consumer does within its refresh period; production's minimum interval between rotations is far
longer), watched at the emulator rather than waited for with a sleep."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.config import DigitalOceanConfig, VaultConfig
from components.keys import KeyContext
from components.provider import inputs_for
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import inference_status
from tests.integration.rotation_env import Managed, manage
from tests.live_consumer import INTERVAL, REFRESH, LiveConsumer, SecretsSeen
from tests.provider.harness import ProviderProcess, from_struct, with_provider


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


def rotate_alternately(
    managed: Managed, provider: ProviderProcess, seen: SecretsSeen, key: str, rotations: int
) -> list[str]:
    """Rotate `rotations` times, alternating the provider path and the command path; each rotation
    starts, and the function returns, once the consumer calls with the secret in Vault."""
    spec = managed.specs[key]
    context = KeyContext("rot", VaultConfig(path_prefix=managed.prefix), DigitalOceanConfig())
    outs = {**inputs_for(spec, context), **managed.states[key].as_dict(), "plan": "", "pending_rotation": ""}
    sink = managed.sink()
    paths = []
    since = 0
    for i in range(rotations):
        seen.wait_for(sink.read_secret(spec.vault_path)[0], since=since)
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
            # Vault every 0.2 s; rotating as soon as it has the key is the point of the test.
            code, document, err = managed.rotate(key, "--force")
            assert code == 0, err
            outs = {**outs, "active_slot": document["keys"][0]["active_slot"]}
            paths.append("command")
        since = seen.mark()  # every call from here on is the consumer's
    seen.wait_for(sink.read_secret(spec.vault_path)[0], since=since)
    return paths


@pytest.mark.slow
def test_dual_slot_rotations_cost_consumers_nothing(
    dual: Managed, provider: ProviderProcess, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = SecretsSeen(emulator, monkeypatch)
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/chatbot")
    paths = rotate_alternately(dual, provider, seen, "chatbot", rotations=6)
    summary = consumer.stop()
    elapsed = time.monotonic() - consumer.started
    assert paths.count("provider") == 3 and paths.count("command") == 3
    assert summary["key_changes"] >= 6
    # It called all along (at half its pace or better): no failure is not for want of calls.
    assert summary["calls"] > elapsed / INTERVAL / 2, (summary, elapsed)
    assert summary["failed"] == 0, summary


@pytest.mark.slow
def test_in_place_rotations_cost_a_bounded_blip(
    dual: Managed, provider: ProviderProcess, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = SecretsSeen(emulator, monkeypatch)
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/batch")
    rotate_alternately(dual, provider, seen, "batch", rotations=6)
    summary = consumer.stop()
    assert summary["key_changes"] >= 6
    # The old secret dies at the regenerate; a consumer is blind until its next Vault read.
    per_rotation = REFRESH / INTERVAL + 3
    assert summary["failed"] <= 6 * per_rotation, summary
    print(f"in-place: {summary['failed']} failed of {summary['calls']} calls over 6 rotations")


@pytest.mark.slow
def test_emergency_refuses_old_secrets_at_once_and_consumers_recover(
    dual: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = SecretsSeen(emulator, monkeypatch)
    old = dual.sink().read_secret("apps/chatbot")[0]
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/chatbot")
    seen.wait_for(old)  # the consumer is using the secret the emergency kills
    code, _document, err = dual.rotate("chatbot", "--emergency")
    assert code == 0, err
    assert inference_status(emulator, old) == 401  # at once
    seen.wait_for(dual.sink().read_secret("apps/chatbot")[0], since=seen.mark())  # its next read
    # Not a wait for something to happen: the window the last assertion reads, a second of calls
    # after the recovery that must all succeed (a few calls more, for the two processes' clocks).
    time.sleep(1.0 + 5 * INTERVAL)
    summary = consumer.stop()
    elapsed = time.monotonic() - consumer.started
    assert summary["key_changes"] >= 1
    assert (
        not summary["failures_at"] or max(summary["failures_at"]) < elapsed - 1.0
    )  # recovered on its next read


@pytest.mark.slow
@pytest.mark.parametrize("sdk", ["openai", "gradient"])
def test_dual_slot_rotations_cost_sdk_consumers_nothing(
    dual: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, sdk: str
) -> None:
    """A consumer written with the SDK reads the key from Vault (hvac) before each call: with
    dual-slot keys the secret Vault holds always works, and the one it held before stays valid
    until the rotation after next, so no call fails, and none is retried to hide a failure."""
    seen = SecretsSeen(emulator, monkeypatch)
    consumer = LiveConsumer(dual.env, f"{dual.prefix}/apps/chatbot", client=sdk, refresh=0)
    sink, path = dual.sink(), dual.specs["chatbot"].vault_path
    rotations, since = 4, 0
    for _ in range(rotations):
        seen.wait_for(sink.read_secret(path)[0], since=since)
        code, _document, err = dual.rotate("chatbot", "--force")  # gradient-keys rotate chatbot
        assert code == 0, err
        since = seen.mark()
    seen.wait_for(sink.read_secret(path)[0], since=since)
    summary = consumer.stop()
    elapsed = time.monotonic() - consumer.started
    assert summary["client"] == sdk
    assert summary["key_changes"] >= rotations
    assert summary["vault_reads"] >= summary["calls"]  # one read per call
    assert summary["calls"] > elapsed / INTERVAL / 4, (summary, elapsed)
    assert summary["failed"] == 0, summary
    print(f"{sdk}: {summary['ok']} of {summary['calls']} calls ok over {rotations} rotations")
