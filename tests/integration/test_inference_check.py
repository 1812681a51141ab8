"""`key_works`: how many times it asks the sandbox's inference endpoint, and how long it waits
between (through the injected `sleep`)."""

from __future__ import annotations

import socket

import pytest
import requests

from components.errors import InferenceUnavailableError
from components.inference_check import key_works
from components.secret import Secret
from sandbox.server import Emulator


def models_requests(emulator: Emulator) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats.view()["requests"].get("models", {})
    return counts


def test_a_working_key_is_one_request(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    waits: list[float] = []
    assert key_works(emulator.base_url, Secret(key["secret_key"]), sleep=waits.append)
    assert waits == [] and models_requests(emulator) == {"200": 1}


def test_a_dead_key_is_asked_attempts_times_delay_apart(emulator: Emulator) -> None:
    waits: list[float] = []
    assert not key_works(emulator.base_url, Secret("sk-do-dead"), attempts=3, delay=0.25, sleep=waits.append)
    assert waits == [0.25, 0.25]  # none after the last attempt
    assert models_requests(emulator) == {"401": 3}


def test_a_key_accepted_late_works(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="models", kind="error", status=503, times=2)
    waits: list[float] = []
    assert key_works(emulator.base_url, Secret(key["secret_key"]), delay=1.5, sleep=waits.append)
    assert waits == [1.5, 1.5]
    assert models_requests(emulator) == {"503": 2, "200": 1}


def test_no_answer_is_tried_again_then_said_to_be_no_answer() -> None:
    """A dead endpoint is not a refused secret: it raises (exit 3), it does not answer False."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(InferenceUnavailableError, match=r"did not answer usably \(no answer, 4 attempt"):
        key_works(f"http://127.0.0.1:{port}", Secret("sk-do-x"), attempts=4, sleep=waits.append)
    assert waits == [0.5, 0.5, 0.5]


def test_an_endpoint_failing_with_5xx_is_unavailable_not_a_refusal(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="models", kind="error", status=503, times=3)
    waits: list[float] = []
    with pytest.raises(InferenceUnavailableError, match="HTTP 503"):
        key_works(emulator.base_url, Secret(key["secret_key"]), attempts=3, sleep=waits.append)


def test_zero_attempts_asks_nothing(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    waits: list[float] = []
    assert not key_works(emulator.base_url, Secret(key["secret_key"]), attempts=0, sleep=waits.append)
    assert waits == [] and models_requests(emulator) == {}


def test_an_error_that_is_not_the_networks_surfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> requests.Response:
        raise TypeError("a bug")

    monkeypatch.setattr(requests, "get", broken)
    waits: list[float] = []
    with pytest.raises(TypeError, match="a bug"):
        key_works("http://127.0.0.1:9", Secret("sk-do-x"), sleep=waits.append)
    assert waits == []
