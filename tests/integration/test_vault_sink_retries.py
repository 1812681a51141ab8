"""What `VaultSink._call` retries (tenacity), how often, how long it waits, and what it maps to our
errors, against a loopback server impersonating Vault (`FakeVault`): the outages and answers a
real OpenBao cannot be made to give on demand."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from components.errors import (
    VaultConflictError,
    VaultError,
    VaultInvalidRequestError,
    VaultPermissionError,
    VaultUnavailableError,
)
from components.ledger import Ledger
from components.pacing import Backoff
from components.secret import Secret
from components.vault_sink import VaultSink
from tests.integration.test_hostile_responses import NOT_FOUND, FakeVault, answer

PREFIX = "gradient-keys"
META = "/v1/secret/metadata/gradient-keys/apps/a"
DATA = "/v1/secret/data/gradient-keys/apps/a"
GOOD_META = answer(200, {"data": {"current_version": 0, "versions": {}, "custom_metadata": None}})
SEALED = answer(503, {"errors": ["Vault is sealed"]})


class Sink:
    def __init__(self, addr: str, max_attempts: int = 4, retry_seconds: float = 0.0) -> None:
        """`retry_seconds=0`: exactly `max_attempts` tries (the time budget has its own tests)."""
        self.waits: list[float] = []
        env = {"VAULT_ADDR": addr, "VAULT_TOKEN": "hvs.fake-vault-token"}
        self.sink = VaultSink(
            "secret",
            PREFIX,
            environ=env,
            max_attempts=max_attempts,
            retry_seconds=retry_seconds,
            sleep=self.waits.append,
        )
        self.before = self.sink.requests_made  # the token login sends nothing, but is counted

    @property
    def requests(self) -> int:
        return self.sink.requests_made - self.before


@pytest.fixture
def fake() -> Iterator[tuple[FakeVault, Callable[..., Sink]]]:
    vault = FakeVault()
    server, addr = vault.serve()
    yield vault, lambda **kw: Sink(addr, **kw)
    server.shutdown()
    server.server_close()


def seen(vault: FakeVault, route: str) -> int:
    return sum(1 for s in vault.seen if s.split("?", maxsplit=1)[0] == route)


def test_a_sealed_vault_is_retried_within_the_backoff_bounds(
    fake: tuple[FakeVault, Callable[..., Sink]],
) -> None:
    vault, make = fake
    vault.on("GET", META, SEALED, SEALED, GOOD_META)
    s = make()
    assert s.sink.read_ledger("apps/a") is None  # current_version 0: nothing stored
    assert seen(vault, f"GET {META}") == 3 and s.requests == 3
    # VaultSink's default Backoff(base=0.25, cap=5): full jitter under min(cap, base * 2 ** (n - 1)).
    assert len(s.waits) == 2 and 0 <= s.waits[0] <= 0.25 and 0 <= s.waits[1] <= 0.5


@pytest.mark.parametrize(
    ("canned", "detail"),
    [
        (SEALED, "sealed or in maintenance (503)"),
        (answer(500, {"errors": ["boom"]}), "InternalServerError"),
        (answer(502, {"errors": []}), "BadGateway"),
        (answer(429, {"errors": []}), "RateLimitExceeded"),
    ],
    ids=["503", "500", "502", "429"],
)
def test_retried_outcomes_end_unavailable_after_max_attempts(
    fake: tuple[FakeVault, Callable[..., Sink]], canned: object, detail: str
) -> None:
    vault, make = fake
    vault.on("GET", META, canned)  # type: ignore[arg-type]
    s = make(max_attempts=3)
    with pytest.raises(VaultUnavailableError) as caught:
        s.sink.read_ledger("apps/a")
    assert f"{detail}, after 3 attempts" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert seen(vault, f"GET {META}") == 3 and s.requests == 3 and len(s.waits) == 2


def test_an_unreachable_vault_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = Sink(f"http://127.0.0.1:{port}", max_attempts=2)
    with pytest.raises(VaultUnavailableError, match=r"unreachable \(ConnectionError\), after 2 attempts"):
        s.sink.read_ledger("apps/a")
    assert s.requests == 2 and len(s.waits) == 1


@pytest.mark.parametrize(
    ("canned", "error"),
    [
        (answer(403, {"errors": ["permission denied"]}), VaultPermissionError),
        (answer(401, {"errors": []}), VaultPermissionError),
        (answer(400, {"errors": ["bad"]}), VaultError),
        (answer(501, {"errors": []}), VaultUnavailableError),  # not initialized: waiting won't help
        (answer(409, {"errors": []}), VaultError),  # a status Vault does not document
        (answer(500, [1]), VaultError),  # hvac trips over the body (AttributeError): unusable
    ],
    ids=["403", "401", "400", "501", "409", "body-hvac-cannot-read"],
)
def test_other_outcomes_are_not_retried(
    fake: tuple[FakeVault, Callable[..., Sink]], canned: object, error: type[Exception]
) -> None:
    vault, make = fake
    vault.on("GET", META, canned)  # type: ignore[arg-type]
    s = make()
    with pytest.raises(error) as caught:
        s.sink.read_ledger("apps/a")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert seen(vault, f"GET {META}") == 1 and s.requests == 1 and s.waits == []


def test_a_missing_path_is_one_request(fake: tuple[FakeVault, Callable[..., Sink]]) -> None:
    vault, make = fake
    vault.on("GET", META, NOT_FOUND)
    s = make()
    assert s.sink.read_ledger("apps/a") is None
    assert s.requests == 1 and s.waits == []


def test_a_lost_check_and_set_is_not_retried(fake: tuple[FakeVault, Callable[..., Sink]]) -> None:
    vault, make = fake
    # The path is new when read, then holds two versions by others when the write is refused.
    vault.on("GET", META, NOT_FOUND, answer(200, {"data": {"current_version": 2, "versions": {}}}))
    vault.on(
        "POST", DATA, answer(400, {"errors": ["check-and-set parameter did not match the current version"]})
    )
    s = make()
    secret = Secret("sk-do-cas-lost")
    ledger = Ledger(fingerprint=secret.fingerprint, rotated_at="2026-11-25T10:00:00Z", slot_a="uuid-a")
    with pytest.raises(VaultConflictError):
        s.sink.write("apps/a", secret, ledger, 0)
    assert seen(vault, f"POST {DATA}") == 1 and s.waits == []


def test_a_refused_write_on_a_path_that_did_not_move_is_not_a_conflict(
    fake: tuple[FakeVault, Callable[..., Sink]],
) -> None:
    """A 400 is a lost check-and-set only when the path moved past the expected version: decided
    from the path's version, not from the error text (which here even mentions check-and-set)."""
    vault, make = fake
    vault.on("GET", META, NOT_FOUND)
    vault.on("POST", DATA, answer(400, {"errors": ["check-and-set parameter required"]}))
    s = make()
    secret = Secret("sk-do-refused")
    ledger = Ledger(fingerprint=secret.fingerprint, rotated_at="2026-11-25T10:00:00Z", slot_a="uuid-a")
    with pytest.raises(VaultInvalidRequestError) as caught:
        s.sink.write("apps/a", secret, ledger, 0)
    assert not isinstance(caught.value, VaultConflictError)
    with pytest.raises(VaultInvalidRequestError):
        s.sink.write_record("apps/a", {"run_id": "r"}, cas=0)


def test_a_record_written_over_by_another_run_is_a_conflict(
    fake: tuple[FakeVault, Callable[..., Sink]],
) -> None:
    vault, make = fake
    vault.on("GET", META, answer(200, {"data": {"current_version": 4, "versions": {}}}))
    vault.on("POST", DATA, answer(400, {"errors": ["some wording Vault may change"]}))
    s = make()
    with pytest.raises(VaultConflictError):
        s.sink.write_record("apps/a", {"run_id": "r"}, cas=3)


def test_the_waits_come_from_the_sinks_backoff(fake: tuple[FakeVault, Callable[..., Sink]]) -> None:
    vault, make = fake
    vault.on("GET", META, SEALED)
    s = make(max_attempts=4)
    s.sink.backoff = Backoff(base=8.0, cap=10.0)
    with pytest.raises(VaultUnavailableError):
        s.sink.read_ledger("apps/a")
    assert len(s.waits) == 3
    assert all(0 <= w <= bound for w, bound in zip(s.waits, (8.0, 10.0, 10.0), strict=True))


# == what `_call` maps, and what it lets through ==================================================
def test_a_value_error_raised_by_hvac_is_a_bug_of_ours_and_surfaces(
    fake: tuple[FakeVault, Callable[..., Sink]],
) -> None:
    """hvac raises ValueError only about its arguments (a JSON parse error is requests', and a
    RequestException): `_call` no longer maps it to "Vault's answer could not be read"."""
    vault, make = fake
    s = make()
    with pytest.raises(ValueError, match="either token or accessor"):
        s.sink._call(
            "preflight",
            None,
            lambda: s.sink._client.sys.get_capabilities(paths=["secret/data/x"], token="t", accessor="a"),
        )
    assert vault.seen == [] and s.waits == []


def test_a_programming_error_in_the_call_surfaces_as_itself(
    fake: tuple[FakeVault, Callable[..., Sink]],
) -> None:
    _vault, make = fake
    s = make()

    def buggy() -> object:
        empty: dict[str, object] = {}
        return empty["missing"]

    with pytest.raises(KeyError):
        s.sink._call("read", None, buggy)
    assert s.requests == 1 and s.waits == []


def test_the_answer_comes_back_sealed_after_a_retry(fake: tuple[FakeVault, Callable[..., Sink]]) -> None:
    vault, make = fake
    planted = "sk-do-planted-in-a-version"
    version = answer(
        200,
        {"data": {"data": {"api_key": planted}, "metadata": {"version": 1}}},
    )
    vault.on("GET", DATA, SEALED, version)
    s = make()
    reply = s.sink._call(
        "read",
        "x",
        lambda: s.sink._kv.read_secret_version(
            f"{PREFIX}/apps/a", mount_point="secret", raise_on_deleted_version=True
        ),
    )
    assert isinstance(reply["data"]["data"]["api_key"], Secret)
    assert reply["data"]["data"]["api_key"].reveal() == planted
    assert len(s.waits) == 1


def test_retries_go_on_for_the_retry_window_not_just_max_attempts(
    fake: tuple[FakeVault, Callable[..., Sink]],
) -> None:
    """A leader election takes seconds: a call keeps trying until `retry_seconds` of backoff has
    passed, however many attempts that takes, and then says how long it tried."""
    vault, make = fake
    vault.on("GET", META, SEALED)
    s = make(max_attempts=2, retry_seconds=12.0)
    with pytest.raises(VaultUnavailableError) as caught:
        s.sink.read_ledger("apps/a")
    assert sum(s.waits[:-1]) < 12.0 <= sum(s.waits)  # it stopped at the first try past the window
    assert s.requests == len(s.waits) + 1 > 2
    assert f"after {s.requests} attempts over {sum(s.waits):.0f}s" in str(caught.value)


def test_a_failover_inside_the_window_is_ridden_out(fake: tuple[FakeVault, Callable[..., Sink]]) -> None:
    vault, make = fake
    vault.on("GET", META, SEALED, SEALED, SEALED, SEALED, SEALED, GOOD_META)  # a standby, then a leader
    s = make(max_attempts=2, retry_seconds=60.0)
    assert s.sink.read_ledger("apps/a") is None  # nothing stored yet: read, not failed
    assert s.requests == 6


def test_the_window_comes_from_the_environment_and_is_checked() -> None:
    from components.errors import ConfigurationError
    from components.vault_auth import DEFAULT_RETRY_SECONDS, VaultConnection

    env = {"VAULT_ADDR": "http://127.0.0.1:8200"}
    assert VaultConnection.from_env(env).retry_seconds == DEFAULT_RETRY_SECONDS
    assert VaultConnection.from_env({**env, "GRADIENT_KEYS_VAULT_RETRY_SECONDS": "40"}).retry_seconds == 40
    for bad in ("-1", "nan", "soon", "1e9"):
        with pytest.raises(ConfigurationError, match="GRADIENT_KEYS_VAULT_RETRY_SECONDS must be"):
            VaultConnection.from_env({**env, "GRADIENT_KEYS_VAULT_RETRY_SECONDS": bad})
