"""Shared fixtures: a real sandbox emulator over HTTP, and environments that point pydo at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hvac
import pytest

from components.do_keys import ClientSettings, ModelKeys
from components.secret import Secret
from sandbox.openbao import OpenBaoError, OpenBaoServer, bao_binary, start_dev_server
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig

READ_ONLY_TOKEN = "dop_v1_read_only_test_token"


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[Emulator]:
    emulator = Emulator(
        EmulatorConfig(read_only_tokens=(READ_ONLY_TOKEN,), rate_limit_per_minute=0, rate_limit_per_hour=0)
    )
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(shared_emulator: Emulator) -> Iterator[Emulator]:
    """The session's emulator, emptied and in the default (retired-create, unlimited) mode."""
    shared_emulator.reset()
    shared_emulator.config.create_mode = "retired"
    shared_emulator.limiter.per_minute = 0
    shared_emulator.limiter.per_hour = 0
    shared_emulator.limiter.minute_seconds = 60.0
    shared_emulator.limiter.hour_seconds = 3600.0
    shared_emulator.limiter.headers = "documented"
    yield shared_emulator
    shared_emulator.reset()


@pytest.fixture
def do_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """DIGITALOCEAN_API_URL and DIGITALOCEAN_TOKEN set for the emulator, as a user would."""
    monkeypatch.setenv("DIGITALOCEAN_API_URL", emulator.base_url)
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("GRADIENT_KEYS_DO_BURST_PER_MINUTE", "0")  # the test emulator has no burst limit
    return emulator


@pytest.fixture
def make_client(emulator: Emulator) -> Iterator[Callable[..., ModelKeys]]:
    """A client for the emulator with fast retries (the waits themselves are tested in unit tests)."""
    made: list[ModelKeys] = []

    def factory(token: str = DEFAULT_TOKEN, max_attempts: int = 4) -> ModelKeys:
        settings = ClientSettings(api_url=emulator.base_url, token=Secret(token), max_attempts=max_attempts)
        client = ModelKeys(settings)
        client.backoff.base = 0.01
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


# -- OpenBao (a real Vault-compatible server) -----------------------------------------------------
VAULT_ENV_VARS = (
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "VAULT_ROLE_ID",
    "VAULT_SECRET_ID",
    "VAULT_APPROLE_MOUNT",
    "VAULT_JWT_ROLE",
    "VAULT_JWT",
    "VAULT_JWT_FILE",
    "VAULT_JWT_MOUNT",
    "VAULT_AUTH_METHOD",
    "VAULT_CACERT",
)


def require_openbao() -> None:
    """Skip where the OpenBao binary is absent; in CI, which installs it, fail instead."""
    try:
        bao_binary()
    except OpenBaoError as exc:
        if os.environ.get("CI"):
            raise  # CI installs OpenBao: its absence there is a failure, not a skip
        pytest.skip(f"OpenBao is not installed here ({exc})")


# Set to a namespace name, every test that uses the real OpenBao (`openbao`) works inside that
# namespace, created at start with KV v2 at secret/, and the others are deselected: the Vault part
# of the suite, as Vault Enterprise / OpenBao namespaces run it (scripts/test-vault-namespace).
NAMESPACE_ENV = "GRADIENT_KEYS_TEST_VAULT_NAMESPACE"


def namespace_under_test() -> str | None:
    return os.environ.get(NAMESPACE_ENV, "").strip().strip("/") or None


def vault_client(server: OpenBaoServer, token: str | None = None, timeout: int = 30) -> hvac.Client:
    """A client of `server` as the tool would reach it: its namespace and CA, if any."""
    return hvac.Client(
        url=server.address,
        token=token or server.root_token,
        namespace=server.namespace,
        verify=str(server.ca_cert) if server.ca_cert else True,
        timeout=timeout,
    )


def start_openbao(log_dir: Path) -> OpenBaoServer:
    require_openbao()
    server = start_dev_server(log_path=log_dir / "bao.log")
    namespace = namespace_under_test()
    if namespace:
        root = vault_client(server)
        root.sys.create_namespace(namespace)
        # The dev server's KV at the root's secret/ goes: a call that drops the namespace then
        # fails (no such mount) instead of quietly working outside it.
        root.sys.disable_secrets_engine("secret")
        server.namespace = namespace
        vault_client(server).sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    return server


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    yield server
    server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In namespace mode, only the tests that use the real OpenBao run (see NAMESPACE_ENV)."""
    if not namespace_under_test():
        return
    keep = [item for item in items if "openbao" in getattr(item, "fixturenames", ())]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture
def root_vault(openbao: OpenBaoServer) -> hvac.Client:
    return vault_client(openbao)


@pytest.fixture
def vault_env(openbao: OpenBaoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean Vault environment (root token) and a HOME without ~/.vault-token."""
    for name in VAULT_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    env = openbao.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def key_path() -> str:
    """A fresh Vault path per test, so tests sharing the server never see each other's data."""
    return f"tests/{uuid.uuid4().hex[:12]}"
