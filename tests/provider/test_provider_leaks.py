"""Plant known tokens, run the provider and the program through every step, and search every
output for any secret: gRPC responses, the serialized provider, the program's recorded state,
the provider process's stderr, and this process's stdout/stderr and logs."""

from __future__ import annotations

import base64
import logging
from typing import Any

import hvac
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.provider import ModelKeyProvider
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.integration.rotation_env import policy_only_token
from tests.program.harness import run_program
from tests.provider.harness import ProviderProcess

PREFIX = "gradient-keys/leaks"


def test_no_secret_in_any_provider_or_program_output(
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    for path in ("apps/chatbot", "apps/batch"):
        root_vault.secrets.kv.v2.delete_metadata_and_all_versions(f"{PREFIX}/{path}", mount_point="secret")
    planted_vault_token = policy_only_token(openbao, PREFIX)  # the generated policy only, not root
    env = {
        "DIGITALOCEAN_API_URL": emulator.base_url,
        "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
        "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
        "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",  # the test emulator has no burst limit
        **openbao.environment(planted_vault_token),
        "HOME": str(tmp_path),
    }
    secrets = [
        emulator.console_create(n)["secret_key"] for n in ("chatbot-slot-a", "chatbot-slot-b", "batch")
    ]
    sink = VaultSink(path_prefix=PREFIX, environ=env)
    config: dict[str, Any] = {
        "vault": {"path_prefix": PREFIX},
        "keys": [
            {"name": "chatbot", "vault_path": "apps/chatbot"},
            {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place"},
        ],
    }
    provider = ProviderProcess(env)
    state: dict[str, Any] = {}
    recorded: list[str] = []
    try:
        for token in ("first", "second", "third"):
            for key in config["keys"]:
                key["rotation_token"] = token
            monitor, mocks = run_program(config, provider, state)
            recorded += [repr(monitor.resources), repr(state), repr([r.inputs for r in mocks.registered])]
            secrets += [sink.read_secret(p)[0].reveal() for p in ("apps/chatbot", "apps/batch")]
        for urn, record in state.items():
            name = urn.rsplit("::", 1)[1]
            provider.read(name, record["id"], record["outputs"])
        run_program({"vault": {"path_prefix": PREFIX}, "keys": []}, provider, state)  # deletes both
    finally:
        provider_stderr = provider.close()

    serialized = serialize_provider(ModelKeyProvider())
    haystacks = {
        "grpc responses": "\n".join(provider.transcript),
        "serialized provider": serialized + base64.b64decode(serialized).decode("latin-1"),
        "recorded program state": "\n".join(recorded),
        "provider stderr": provider_stderr,
        "test stdout/stderr": "".join(capfd.readouterr()),
        "logs": caplog.text,
    }
    assert len(set(secrets)) >= 9, "the scenario should have minted secrets to search for"
    assert "fingerprint" in haystacks["grpc responses"]
    for where, text in haystacks.items():
        for needle in [*secrets, DEFAULT_TOKEN, planted_vault_token]:
            assert needle not in text, f"a secret or token leaked into {where}"
