"""A stack file cannot send credentials somewhere nobody trusted, and every run says where each
endpoint came from (components/endpoints.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import cli
from components.clients import ClientFactory
from components.config import DigitalOceanConfig, VaultConfig
from components.do_keys import ClientSettings
from components.endpoints import Source, resolve
from components.errors import ConfigurationError
from components.keys import KeyContext, KeyOperations
from components.vault_auth import VaultConnection
from tests.program.harness import run_program

TRUST = "GRADIENT_KEYS_TRUSTED_HOSTS"


def test_a_stack_vault_addr_elsewhere_needs_the_operator_to_trust_its_host() -> None:
    with pytest.raises(
        ConfigurationError, match=rf"stack config vault\.addr .* at vault\.attacker\.example.*{TRUST}="
    ):
        VaultConnection.from_env({}, "https://vault.attacker.example:8200")
    trusted = {TRUST: "other.example, Vault.Attacker.Example"}
    assert VaultConnection.from_env(trusted, "https://vault.attacker.example:8200").addr.endswith(":8200")


def test_vault_addr_from_the_environment_is_the_operators_choice() -> None:
    # VAULT_ADDR wins over the stack file, and needs no trust list: the operator set it.
    env = {"VAULT_ADDR": "https://vault.corp.example:8200"}
    assert (
        VaultConnection.from_env(env, "https://vault.attacker.example").addr
        == "https://vault.corp.example:8200"
    )


def test_a_loopback_stack_vault_addr_is_fine() -> None:
    assert VaultConnection.from_env({}, "http://127.0.0.1:8200").addr == "http://127.0.0.1:8200"


@pytest.mark.parametrize(
    ("api_url", "inference_url"),
    [("https://api.attacker.example", None), (None, "https://inference.attacker.example")],
    ids=["api_url", "inference_url"],
)
def test_digitalocean_hosts_other_than_its_own_need_trust(
    api_url: str | None, inference_url: str | None
) -> None:
    with pytest.raises(ConfigurationError, match=rf"attacker\.example.*{TRUST}"):
        resolve(api_url, inference_url, None, {})
    trusted = resolve(
        api_url, inference_url, None, {TRUST: "api.attacker.example,inference.attacker.example"}
    )
    assert "attacker.example" in (trusted.digitalocean.url + trusted.inference.url)


def test_the_environment_cannot_skip_the_trust_list_for_digitalocean() -> None:
    with pytest.raises(
        ConfigurationError, match=rf"DIGITALOCEAN_API_URL points the DigitalOcean API .*{TRUST}"
    ):
        ClientSettings.from_env({"DIGITALOCEAN_TOKEN": "t", "DIGITALOCEAN_API_URL": "https://proxy.example"})


def test_digitalocean_own_hosts_and_loopback_need_no_trust() -> None:
    found = resolve(
        "https://api.digitalocean.com", "https://inference.do-ai.run", "http://localhost:8200", {}
    )
    assert found.digitalocean.source is Source.STACK and found.vault is not None


def test_describe_names_each_source() -> None:
    env = {"DIGITALOCEAN_INFERENCE_URL": "http://127.0.0.1:9"}
    line = resolve(None, "http://127.0.0.1:1", "http://127.0.0.1:8200", env).describe()
    assert line == (
        "endpoints: DigitalOcean API https://api.digitalocean.com (from default); "
        "inference endpoint http://127.0.0.1:9 (from DIGITALOCEAN_INFERENCE_URL); "
        "Vault http://127.0.0.1:8200 (from stack config vault.addr)"
    )


def test_key_operations_refuse_before_any_login() -> None:
    ops = KeyOperations(
        KeyContext("s", VaultConfig(addr="https://vault.attacker.example"), DigitalOceanConfig()),
        ClientFactory({"VAULT_TOKEN": "hvs.not-a-real-token"}),
    )
    with pytest.raises(ConfigurationError, match=r"vault\.addr"):
        ops.vault  # noqa: B018


STACK = """\
config:
  gradient-keys:vault: {{addr: "{addr}"}}
  gradient-keys:keys:
    - {{name: chatbot, vault_path: apps/chatbot}}
"""


@pytest.mark.parametrize("command", [["audit"], ["rotate", "--all", "--dry-run"]])
def test_the_command_refuses_a_stack_file_redirecting_vault(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("VAULT_ADDR", TRUST, "DIGITALOCEAN_API_URL", "DIGITALOCEAN_INFERENCE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_planted")
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text(STACK.format(addr="https://vault.attacker.example"))
    assert cli.main([*command, "--config", str(stack)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "stack config vault.addr" in err and TRUST in err and "Traceback" not in err


def test_the_command_says_where_each_endpoint_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("VAULT_ADDR", "DIGITALOCEAN_API_URL", "DIGITALOCEAN_INFERENCE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_planted")
    monkeypatch.setenv("VAULT_TOKEN", "planted")
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text(STACK.format(addr="http://127.0.0.1:1"))  # nothing listens: the run stops at login
    cli.main(["audit", "--config", str(stack)])
    err = capsys.readouterr().err
    assert "endpoints: DigitalOcean API https://api.digitalocean.com (from default)" in err
    assert "Vault http://127.0.0.1:1 (from stack config vault.addr)" in err


def test_the_program_refuses_a_stack_redirecting_digitalocean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUST, raising=False)
    monkeypatch.delenv("DIGITALOCEAN_API_URL", raising=False)
    config = {"digitalocean": {"api_url": "https://api.attacker.example"}, "keys": []}
    with pytest.raises(ConfigurationError, match=r"digitalocean\.api_url"):
        run_program(config)
