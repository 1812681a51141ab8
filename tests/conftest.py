"""Shared fixtures: a real sandbox emulator over HTTP, and environments that point pydo at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from components.do_keys import ClientSettings, ModelKeys
from components.secret import Secret
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
    yield shared_emulator
    shared_emulator.reset()


@pytest.fixture
def do_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """DIGITALOCEAN_API_URL and DIGITALOCEAN_TOKEN set for the emulator, as a user would."""
    monkeypatch.setenv("DIGITALOCEAN_API_URL", emulator.base_url)
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", DEFAULT_TOKEN)
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
