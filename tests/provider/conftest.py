"""Fixtures of the provider tests: the tool's environment (the sandbox and a token holding only the
generated Vault policy), and a provider process driven over gRPC on an empty `apps/chatbot`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hvac
import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import environment
from tests.provider.harness import ProviderProcess


@pytest.fixture
def env(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Any) -> dict[str, str]:
    return environment(emulator, openbao, tmp_path)


@pytest.fixture
def provider(env: dict[str, str], root_vault: hvac.Client) -> Iterator[ProviderProcess]:
    root_vault.secrets.kv.v2.delete_metadata_and_all_versions(
        "gradient-keys/apps/chatbot", mount_point="secret"
    )
    process = ProviderProcess(env)
    yield process
    process.close()
