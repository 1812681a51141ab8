"""`gradient-keys:agents`: an agent's uuid, endpoint and keys, validated with the keys' own rules;
where an agent key's new secrets may be sent; the key collection the core is given."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import endpoints
from components.config import parse_settings, stack_values
from components.errors import ConfigurationError
from components.key_collection import MODEL_KEYS, KeyCollection
from tests.unit.test_stack_file_schema import schema_errors

AGENT = "1f1e960b-b67c-6ad4-8373-97a1b2c3d4e5"
ENDPOINT = "https://abcd1234.agents.do-ai.run"


def agents(*blocks: dict[str, Any], keys: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    return {"keys": keys or [], "agents": list(blocks), **top}


def agent(**fields: Any) -> dict[str, Any]:
    return {
        "uuid": AGENT,
        "endpoint": ENDPOINT,
        "keys": [{"name": "web", "vault_path": "agents/web"}],
        **fields,
    }


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        parse_settings(values, "test")
    return [str(p) for p in caught.value.problems]


def test_agent_keys_carry_their_agent_and_the_defaults() -> None:
    settings = parse_settings(
        agents(
            agent(
                keys=[
                    {"name": "web", "vault_path": "agents/web"},
                    {"name": "batch", "vault_path": "agents/b", "strategy": "in-place"},
                ]
            ),
            keys=[{"name": "chatbot", "vault_path": "apps/chatbot"}],
            defaults={"rotate_every": "7d", "owner": "support"},
        ),
        "test",
    )
    by_name = {k.name: k for k in settings.keys}
    assert by_name["chatbot"].agent_uuid is None and by_name["chatbot"].agent_endpoint is None
    assert (by_name["web"].agent_uuid, by_name["web"].agent_endpoint) == (AGENT, ENDPOINT)
    assert by_name["batch"].slot_names == ("batch",) and by_name["web"].rotate_every == "7d"
    assert by_name["web"].owner == "support"


def test_a_sandbox_endpoint_is_a_path_on_loopback() -> None:
    settings = parse_settings(agents(agent(endpoint=f"http://127.0.0.1:8087/agents/{AGENT}/")), "test")
    assert settings.keys[0].agent_endpoint == f"http://127.0.0.1:8087/agents/{AGENT}"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            agents({"endpoint": ENDPOINT, "keys": [{"name": "a", "vault_path": "a"}]}),
            "agents[0].uuid: is required",
        ),
        (agents(agent(uuid="support-bot")), 'agents[0].uuid: "support-bot" is not an agent uuid'),
        (
            agents({"uuid": AGENT, "keys": [{"name": "a", "vault_path": "a"}]}),
            "agents[0].endpoint: is required",
        ),
        (
            agents(agent(endpoint="abcd.agents.do-ai.run")),
            'agents[0].endpoint: "abcd.agents.do-ai.run" is not an endpoint URL',
        ),
        (agents(agent(keys=[])), "agents[0].keys: is required: a list of the agent's keys"),
        (agents(agent(keys=[{"name": "web"}])), "agents[0].keys[0].vault_path: is required"),
        (
            agents(agent(), agent(keys=[{"name": "x", "vault_path": "x"}])),
            f'agents[1].uuid: "{AGENT}" is already declared by agents[0]',
        ),
        ({"keys": [], "agents": {"uuid": AGENT}}, "agents: {"),
        (
            agents(agent(model="x")),
            "agents[0].model: is not a known field; use one of account, endpoint, keys, uuid",
        ),
    ],
    ids=[
        "no-uuid",
        "bad-uuid",
        "no-endpoint",
        "bad-endpoint",
        "no-keys",
        "key-problem",
        "agent-twice",
        "not-a-list",
        "unknown",
    ],
)
def test_bad_agents_are_named_with_their_fix(values: dict[str, Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(values)), problems(values)


def test_names_and_vault_paths_are_unique_across_collections_but_digitalocean_names_per_collection() -> None:
    # a model key and an agent key may both be named "web" at DigitalOcean: two collections
    parse_settings(
        agents(
            agent(),
            keys=[
                {
                    "name": "web-model",
                    "vault_path": "apps/web",
                    "adopt": {"names": ["web-slot-a", "web-slot-b"]},
                }
            ],
        ),
        "test",
    )
    # within one agent's keys, a DigitalOcean name has one owner
    twice = agent(
        keys=[
            {"name": "web", "vault_path": "agents/web"},
            {"name": "web2", "vault_path": "agents/web2", "adopt": {"names": ["web-slot-a", "other"]}},
        ]
    )
    (claimed,) = problems(agents(twice))
    assert "is a DigitalOcean key name also claimed by key 'web'" in claimed
    assert problems(agents(agent(), keys=[{"name": "web", "vault_path": "apps/web"}])) == [
        'agents[0].keys[0].name: "web" is already declared by keys[0]; names must be unique'
    ]
    assert problems(agents(agent(), keys=[{"name": "other", "vault_path": "agents/web"}])) == [
        "agents[0].keys[0].vault_path: \"agents/web\" is already used by key 'other'; "
        "give each key its own Vault path"
    ]


@pytest.mark.parametrize(
    ("url", "environ", "allowed"),
    [
        (ENDPOINT, {}, True),
        (f"http://127.0.0.1:8087/agents/{AGENT}", {}, True),
        ("https://agents.example.com", {}, False),
        ("https://agents.example.com", {endpoints.TRUSTED_HOSTS_ENV: "agents.example.com"}, True),
        ("http://abcd.agents.do-ai.run", {}, False),  # a credential over plain HTTP off loopback
        ("https://abcd.agents.do-ai.run.example.com", {}, False),
    ],
)
def test_where_an_agent_keys_new_secret_may_go(url: str, environ: dict[str, str], allowed: bool) -> None:
    if allowed:
        assert endpoints.agent(url, environ).url == url
    else:
        with pytest.raises(ConfigurationError):
            endpoints.agent(url, environ)


def test_the_collection_names_its_path_and_create_body() -> None:
    assert MODEL_KEYS.path == "/v2/gen-ai/models/api_keys"
    collection = KeyCollection(AGENT)
    assert collection.path == f"/v2/gen-ai/agents/{AGENT}/api_keys"
    assert collection.create_body("web") == {"agent_uuid": AGENT, "name": "web"}
    assert MODEL_KEYS.create_body("web") == {"name": "web"}
    with pytest.raises(ValueError, match="an agent uuid is 8-4-4-4-12 hexadecimal digits"):
        KeyCollection("../models/api_keys")


def test_the_documented_example_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "agents.md").read_text()
    example = re.search(r"## A complete stack config\n\n```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    assert schema_errors(example.group(1)) == []
    settings = parse_settings(stack_values(yaml.safe_load(example.group(1))["config"], "docs"), "prod")
    agent_keys = [k for k in settings.keys if k.agent_uuid is not None]
    assert [(k.name, k.strategy, k.adopt_names) for k in agent_keys] == [
        ("support-web", "dual-slot", ()),
        ("support-batch", "in-place", ("support-batch-old",)),
    ]
    assert {k.agent_endpoint for k in agent_keys} == {"https://abcd1234.agents.do-ai.run"}


def test_the_agents_endpoints_are_checked_with_the_others_and_said() -> None:
    found = endpoints.resolve(None, None, None, {}, [ENDPOINT, ENDPOINT])
    assert [a.url for a in found.agents] == [ENDPOINT]
    assert f"agent endpoint {ENDPOINT} (from stack config agents[].endpoint)" in found.describe()
    with pytest.raises(ConfigurationError, match=r"agents\.example\.com"):
        endpoints.resolve(None, None, None, {}, ["https://agents.example.com"])
