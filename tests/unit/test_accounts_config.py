"""`gradient-keys:accounts`: where each account's token is read (never the token), its URLs,
and which account each key (or agent) is in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.account_config import DEFAULT, AccountConfig
from components.config import parse_settings, stack_values
from components.errors import ConfigurationError
from components.keys import KeyContext
from components.provider import inputs_for
from tests.unit.test_stack_file_schema import schema_errors

AGENT = "1f1e960b-b67c-6ad4-8373-97a1b2c3d4e5"
TEAM_B = {"name": "team-b", "token_from": {"env": "DIGITALOCEAN_TOKEN_B"}}


def settings(accounts: Any, **top: Any) -> Any:
    return parse_settings({"keys": [], "accounts": accounts, **top}, "test")


def problems(accounts: Any, **top: Any) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        settings(accounts, **top)
    return [str(p) for p in caught.value.problems]


def test_accounts_and_the_default_one() -> None:
    parsed = settings(
        [
            TEAM_B,
            {
                "name": "team-c",
                "token_from": {"vault": {"path": "accounts/team-c"}},
                "api_url": "http://127.0.0.1:8087",
            },
        ],
        keys=[
            {"name": "a", "vault_path": "apps/a"},
            {"name": "b", "vault_path": "apps/b", "account": "team-b"},
        ],
        agents=[
            {
                "uuid": AGENT,
                "endpoint": "https://x.agents.do-ai.run",
                "account": "team-c",
                "keys": [{"name": "w", "vault_path": "agents/w"}],
            }
        ],
    )
    assert [a.name for a in parsed.accounts] == ["default", "team-b", "team-c"]
    assert parsed.account("default") == DEFAULT
    assert parsed.account("team-b") == AccountConfig("team-b", token_env="DIGITALOCEAN_TOKEN_B")
    team_c = parsed.account("team-c")
    assert (team_c.token_vault_path, team_c.token_vault_field, team_c.api_url) == (
        "accounts/team-c",
        "token",
        "http://127.0.0.1:8087",
    )
    assert {k.name: k.account for k in parsed.keys} == {"a": "default", "b": "team-b", "w": "team-c"}
    assert parsed.token_paths == {"accounts/team-c"}


@pytest.mark.parametrize(
    ("accounts", "top", "expected"),
    [
        (
            [{"name": "team-b"}],
            {},
            "accounts[0].token_from: is required: where the account's API token is read",
        ),
        (
            [{"name": "Team B", "token_from": {"env": "X"}}],
            {},
            'accounts[0].name: "Team B" must be lowercase letters',
        ),
        ([{"token_from": {"env": "X"}}], {}, "accounts[0].name: is required"),
        (
            [{"name": "b", "token_from": {"env": "X", "vault": {"path": "p"}}}],
            {},
            "accounts[0].token_from: takes exactly one of env and vault",
        ),
        (
            [{"name": "b", "token_from": {"env": "not a name"}}],
            {},
            "accounts[0].token_from.env: must be an environment variable's name",
        ),
        (
            [{"name": "b", "token_from": {"vault": {"field": "token"}}}],
            {},
            "accounts[0].token_from.vault.path: is required",
        ),
        ([{"name": "b", "token_from": {"secure": "v1:abc"}}], {}, "accounts[0].token_from"),
        (
            [{"name": "b", "token_from": {"env": "X"}, "token": "dop_v1_x"}],
            {},
            "accounts[0].token: is not a known field",
        ),
        ([TEAM_B, TEAM_B], {}, 'accounts[1].name: "team-b" is already declared'),
        (
            [],
            {"keys": [{"name": "a", "vault_path": "a", "account": "team-z"}]},
            'keys[0].account: "team-z" is not a declared account; use one of default',
        ),
        (
            [TEAM_B],
            {
                "agents": [
                    {
                        "uuid": AGENT,
                        "endpoint": "https://x.agents.do-ai.run",
                        "keys": [{"name": "w", "vault_path": "w", "account": "team-b"}],
                    }
                ]
            },
            "agents[0].keys[0].account: is the agent's: write account: on the agent",
        ),
        (
            [{"name": "b", "token_from": {"vault": {"path": "apps/a"}}}],
            {"keys": [{"name": "a", "vault_path": "apps/a"}]},
            "accounts[0].token_from.vault.path: \"apps/a\" is key 'a''s Vault path",
        ),
        ({"name": "team-b"}, {}, "accounts: "),
    ],
    ids=[
        "no-token-from",
        "bad-name",
        "no-name",
        "two-sources",
        "bad-env",
        "no-path",
        "secure",
        "a-token",
        "twice",
        "undeclared",
        "agent-key-account",
        "key-path",
        "not-a-list",
    ],
)
def test_bad_accounts_are_named_with_their_fix(accounts: Any, top: dict[str, Any], expected: str) -> None:
    found = problems(accounts, **top)
    assert any(p.startswith(expected) for p in found), found


def test_no_problem_quotes_a_token_written_in_the_wrong_place() -> None:
    for found in problems([{"name": "b", "token_from": {"env": "dop_v1_0123456789abcdef"}}]):
        assert "dop_v1_0123456789abcdef" not in found


def test_the_provider_carries_where_the_account_token_is_and_rebuilds_the_same_key() -> None:
    parsed = settings([TEAM_B], keys=[{"name": "b", "vault_path": "apps/b", "account": "team-b"}])
    inputs = inputs_for(parsed.keys[0], KeyContext.of(parsed))
    assert inputs["account"] == "team-b"
    assert inputs["account_settings"] == {"name": "team-b", "token_from": {"env": "DIGITALOCEAN_TOKEN_B"}}
    default = settings(None, keys=[{"name": "a", "vault_path": "apps/a"}])
    assert inputs_for(default.keys[0], KeyContext.of(default))["account_settings"] == {}


def test_the_documented_example_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "accounts.md").read_text()
    example = re.search(r"## A complete stack config\n\n```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    assert schema_errors(example.group(1)) == []
    parsed = parse_settings(stack_values(yaml.safe_load(example.group(1))["config"], "docs"), "prod")
    assert {k.name: k.account for k in parsed.keys} == {
        "chatbot-prod": "default",
        "search-prod": "search-team",
        "support-web": "support-team",
    }
    assert parsed.token_paths == {"accounts/support-team"}
