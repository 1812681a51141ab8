"""examples/agent works with the real `bao agent` against a real OpenBao: the configuration as
shipped logs in with AppRole under the consumer policy shipped beside it and renders the key
gradient-keys stored; a new version reaches the file within the render interval; the helper that
runs it (tests/agent.py) puts no credential on the agent's command line or in its environment.
(The consumer calling through rotations and a failover, against an HA cluster, is the next tier.)"""

from __future__ import annotations

import datetime
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import psutil
import pytest

from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from tests.agent import EXAMPLE_CONFIG, example_config, start_agent
from tests.conftest import start_openbao

POLICY = EXAMPLE_CONFIG.with_name("chatbot-consumer.hcl")


def store(server: OpenBaoServer, prefix: str, relative: str, secret: Secret) -> int:
    """Write `secret` as gradient-keys does (VaultSink: api_key + the ledger, check-and-set)."""
    sink = VaultSink("secret", prefix, environ=server.environment())
    current = sink.read_ledger(relative)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ledger = Ledger(fingerprint=secret.fingerprint, rotated_at=now)
    return sink.write(relative, secret, ledger, current.version if current else 0).version


@pytest.fixture
def private_openbao(tmp_path: Path) -> Iterator[OpenBaoServer]:
    """A server of its own: this test enables AppRole at its default path, as the example expects."""
    server = start_openbao(tmp_path)
    yield server
    server.stop()


def test_the_shipped_config_logs_in_with_approle_and_renders_the_key(
    private_openbao: OpenBaoServer, tmp_path: Path
) -> None:
    server = private_openbao
    secret = Secret("sk-do-agent-example-" + "a" * 24)
    store(server, "gradient/prod", "apps/chatbot", secret)
    root = hvac.Client(url=server.address, token=server.root_token)
    root.sys.create_or_update_policy("chatbot-consumer", POLICY.read_text())
    root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("chatbot", token_policies=["chatbot-consumer"], token_ttl="1h")
    role_id = root.auth.approle.read_role_id("chatbot")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("chatbot")["data"]["secret_id"]
    config = example_config()
    assert config == EXAMPLE_CONFIG.read_text()  # unchanged: what ships is what runs
    with start_agent(
        config, server.address, tmp_path / "agent", role_id=role_id, secret_id=secret_id
    ) as agent:
        assert agent.key_file.read_text() == secret.reveal()
        assert stat.S_IMODE(agent.key_file.stat().st_mode) == 0o600
        assert not (agent.workdir / "secret-id").exists()  # the agent removed it once read
    assert not agent.running()


def test_a_new_version_reaches_the_file_within_the_render_interval(
    openbao: OpenBaoServer, key_path: str, tmp_path: Path
) -> None:
    first, second = Secret("sk-do-agent-v1-" + "b" * 24), Secret("sk-do-agent-v2-" + "c" * 24)
    store(openbao, "gradient-keys", key_path, first)
    config = example_config(
        render_interval="1s", secret_path=f"secret/data/gradient-keys/{key_path}", token_auth=True
    )
    with start_agent(
        config, openbao.address, tmp_path / "agent", token=openbao.root_token, namespace=openbao.namespace
    ) as agent:
        assert agent.key_file.read_text() == first.reveal()
        process = psutil.Process(agent.pid)
        assert openbao.root_token not in " ".join(process.cmdline())
        environment = process.environ()
        assert openbao.root_token not in "".join(environment.values())
        assert "VAULT_TOKEN" not in environment and environment["VAULT_ADDR"] == openbao.address
        assert store(openbao, "gradient-keys", key_path, second) == 2
        written = time.monotonic()
        while agent.key_file.read_text() != second.reveal():
            assert time.monotonic() - written < 5.0, "not rendered again within 5 render intervals"
            time.sleep(0.02)
        assert stat.S_IMODE(agent.key_file.stat().st_mode) == 0o600
    assert openbao.root_token not in agent.log_path.read_text()
