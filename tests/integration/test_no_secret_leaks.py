"""Plant a known token, collect every secret the API hands out, and search every output for them.

Everything runs with every logger at DEBUG (azure-core and urllib3 included), through the success
paths and the failure paths (404, 401, 403, 410, 429, 500, lost responses), and the search covers
log records, stdout/stderr at the file-descriptor level, exception text and tracebacks, and reprs.
"""

from __future__ import annotations

import io
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hvac
import pytest
from azure.core.pipeline.policies import NetworkTraceLoggingPolicy

from components.do_keys import ClientSettings, ModelKeys
from components.errors import GradientKeysError
from components.key_collection import MODEL_KEYS, KeyCollection
from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator, EmulatorConfig
from tests.integration.rotation_env import policy_only_token
from tests.integration.test_vault_auth import without_token

PLANTED_TOKEN = "dop_v1_PLANTED_TOKEN_a41f09c3e7d2b5"
PLANTED_READ_ONLY = "dop_v1_PLANTED_READONLY_77e1c0"


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    named = [logging.getLogger(n) for n in ("azure", "azure.core", "urllib3", "gradient_keys", "hvac")]
    old = [n.level for n in named]
    for logger in named:
        logger.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(old_level)
    for logger, level in zip(named, old, strict=True):
        logger.setLevel(level)


def collect_outputs(logs: io.StringIO, capfd: pytest.CaptureFixture[str], texts: list[str]) -> dict[str, str]:
    """Everything a user or a log shipper could see: log records, stdout/stderr, error texts."""
    captured = capfd.readouterr()
    return {
        "logs": logs.getvalue(),
        "stdout": captured.out,
        "stderr": captured.err,
        "texts": "\n".join(texts),
    }


@dataclass
class Harvest:
    """What the calls handed out (every secret) and what they said about themselves (texts to search)."""

    secrets: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def attempt(self, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except GradientKeysError as exc:
            self.texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])
            return
        self.texts.append(repr(result))
        secret = getattr(result, "secret", None)
        if isinstance(secret, Secret):
            self.secrets.append(secret.reveal())
            self.texts.extend([str(secret), repr(secret), f"{secret}"])


def exercise_api_token(
    client: ModelKeys, emulator: Emulator, made: list[dict[str, str]], harvest: Harvest
) -> None:
    """Every operation with the planted token: success paths, then injected faults (a lost answer,
    500, 429), 404, a deleted key and the retired create (live for an agent's keys)."""
    attempt = harvest.attempt
    prefix = "" if client.collection == MODEL_KEYS else "agent_"  # the emulator's operation names
    attempt(client.list_all)
    attempt(lambda: client.regenerate(made[0]["uuid"]))
    attempt(lambda: client.create("legacy-made"))
    emulator.inject(operation=prefix + "regenerate", kind="drop_after_commit")
    attempt(lambda: client.regenerate(made[1]["uuid"]))
    emulator.inject(operation=prefix + "regenerate", kind="error", status=500)
    attempt(lambda: client.regenerate(made[1]["uuid"]))
    emulator.inject(operation=prefix + "create", kind="drop_after_commit")
    attempt(lambda: client.create("lost-create"))
    emulator.inject(operation=prefix + "list", kind="rate_limit", retry_after=0)
    attempt(client.list_all)
    emulator.inject(operation=prefix + "list", kind="error", times=5)
    attempt(client.list_all)
    attempt(lambda: client.rename(made[2]["uuid"], "renamed"))
    attempt(lambda: client.regenerate("missing"))
    attempt(lambda: client.delete(made[2]["uuid"]))
    attempt(lambda: client.delete(made[2]["uuid"]))
    emulator.config.create_mode = "retired"
    attempt(lambda: client.create("retired"))


def exercise_other_tokens(
    emulator: Emulator, made: list[dict[str, str]], harvest: Harvest, collection: KeyCollection
) -> ModelKeys:
    """A read-only token writing (403) and a wrong token (401); returns the read-only client."""
    read_only = ModelKeys(ClientSettings(emulator.base_url, Secret(PLANTED_READ_ONLY)), collection=collection)
    harvest.attempt(lambda: read_only.regenerate(made[0]["uuid"]))
    wrong = ModelKeys(ClientSettings(emulator.base_url, Secret(PLANTED_TOKEN + "x")), collection=collection)
    harvest.attempt(wrong.list_all)
    return read_only


@pytest.mark.parametrize("kind", ["model", "agent"])
def test_no_token_or_secret_in_any_output(
    debug_logs: io.StringIO, capfd: pytest.CaptureFixture[str], kind: str
) -> None:
    harvest = Harvest()
    config = EmulatorConfig(
        tokens=(PLANTED_TOKEN,), read_only_tokens=(PLANTED_READ_ONLY,), create_mode="legacy"
    )
    with Emulator(config) as emulator:
        settings = ClientSettings(emulator.base_url, Secret(PLANTED_TOKEN), max_attempts=3)
        agent = emulator.console_create_agent("support")["uuid"] if kind == "agent" else None
        client = ModelKeys(settings, collection=KeyCollection(agent))
        client.backoff.base = 0.01
        if agent is None:
            made = [emulator.console_create(f"key-{i}") for i in range(3)]
        else:
            issued = [emulator.store.create(f"key-{i}", agent) for i in range(3)]
            made = [{**key.info(), "secret_key": secret} for key, secret in issued]
        harvest.secrets += [m["secret_key"] for m in made]
        exercise_api_token(client, emulator, made, harvest)
        read_only = exercise_other_tokens(emulator, made, harvest, client.collection)
        # Even a caller asking pydo for its network trace gets nothing: that policy is replaced.
        assert not isinstance(client._client._config.logging_policy, NetworkTraceLoggingPolicy)
        trace_on = {"logging_enable": True}  # what a careless caller would pass; our policy ignores it
        client.collection.regenerate(client._client.genai, made[0]["uuid"], retry_total=0, **trace_on)
        harvest.texts += [repr(client), repr(settings), repr(read_only)]
        for obj in (client, settings):
            with pytest.raises(TypeError):
                pickle.dumps(obj)

    assert len(harvest.secrets) >= 7, "the scenario should have handed out secrets"
    haystacks = collect_outputs(debug_logs, capfd, harvest.texts)
    assert "regenerate" in haystacks["logs"], "the DEBUG capture should have seen the client's own records"
    for where, text in haystacks.items():
        for needle in [PLANTED_TOKEN, PLANTED_READ_ONLY, *harvest.secrets]:
            assert needle not in text, f"a token or secret leaked into {where}"


PLANTED_SECRET = "sk-do-PLANTED-VAULT-SECRET-9f3b2c71d0e4"
PLANTED_SECRET_ID = "PLANTED-approle-secret-id-5e21"
PLANTED_JWT = "eyJPLANTED.jwt-for-leak-test.c0ffee"


def test_vault_paths_leak_nothing(
    debug_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    vault_env: dict[str, str],
    root_vault: hvac.Client,
    openbao: OpenBaoServer,
    key_path: str,
) -> None:
    logging.getLogger("hvac").setLevel(logging.DEBUG)
    # The tool's own login holds only the generated policy, as in production; not root.
    policy_token = policy_only_token(openbao)
    texts: list[str] = []
    secret = Secret(PLANTED_SECRET)
    ledger = Ledger(secret.fingerprint, "2026-11-25T00:00:00Z", slot_a="uuid-a")
    restricted = root_vault.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]

    def attempt(call: Callable[[], Any]) -> None:
        try:
            texts.append(repr(call()))
        except GradientKeysError as exc:
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])

    sink = VaultSink(environ={**vault_env, "VAULT_TOKEN": policy_token})
    attempt(lambda: sink.preflight([key_path], delete_mode="destroy"))
    attempt(lambda: sink.write(key_path, secret, ledger, 0))
    attempt(lambda: sink.write(key_path, secret, ledger, 1))
    attempt(lambda: sink.read_ledger(key_path))
    attempt(lambda: sink.read_secret(key_path))
    attempt(lambda: sink.verify(key_path))
    attempt(
        lambda: sink.write(
            key_path, Secret(PLANTED_SECRET + "2"), Ledger(Secret(PLANTED_SECRET + "2").fingerprint, "x"), 0
        )
    )
    limited = VaultSink(environ={**vault_env, "VAULT_TOKEN": restricted})
    attempt(lambda: limited.preflight([key_path]))
    attempt(lambda: limited.write(key_path, secret, ledger, 1))
    approle = {
        **without_token(vault_env),
        "VAULT_ROLE_ID": "r",
        "VAULT_SECRET_ID": PLANTED_SECRET_ID,
    }
    attempt(lambda: VaultSink(environ=approle))
    jwt_env = {**without_token(vault_env), "VAULT_JWT_ROLE": "ci", "VAULT_JWT": PLANTED_JWT}
    attempt(lambda: VaultSink(environ=jwt_env))
    down = VaultSink(
        environ={"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": restricted}, sleep=lambda _s: None
    )
    attempt(lambda: down.write(key_path, secret, ledger, 0))
    texts += [repr(sink), repr(limited), repr(secret), str(secret)]
    with pytest.raises(TypeError):
        pickle.dumps(sink)

    haystacks = collect_outputs(debug_logs, capfd, texts)
    assert "Vault" in haystacks["texts"], "the scenario should have produced errors to search"
    needles = [
        PLANTED_SECRET,
        PLANTED_SECRET + "2",
        PLANTED_SECRET_ID,
        PLANTED_JWT,
        vault_env["VAULT_TOKEN"],
        policy_token,
        restricted,
    ]
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a secret or token leaked into {where}"
