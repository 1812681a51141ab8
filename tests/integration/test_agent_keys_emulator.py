"""The sandbox's agents and agent API keys, over real HTTP: every answer validated against
DigitalOcean's own OpenAPI definitions of the agent-key operations (spec/do-openapi), the whole
life of a key through the official `pydo` client, model keys and agent keys kept apart, and an
agent's endpoint that accepts only that agent's current keys, called with the official `gradient`
and `openai` SDKs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradient
import openai
import pydo
import pytest
import requests
from azure.core.pipeline.policies import HeadersPolicy
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.server import AGENT_MODEL, DEFAULT_TOKEN, Emulator, EmulatorConfig
from tests import specdoc

READ_ONLY = "dop_v1_agents_read_only"


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    emulator = Emulator(EmulatorConfig(read_only_tokens=(READ_ONLY,)))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emu(server: Emulator) -> Iterator[Emulator]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def spec(server: Emulator) -> OpenAPI:
    return OpenAPI.from_dict(specdoc.build_agent_keys(server.base_url))


def do_client(emu: Emulator) -> pydo.Client:
    """The official client on the sandbox's plain-HTTP loopback address (azure-core sends a bearer
    token over TLS only, unless the authentication policy is replaced)."""
    bearer = HeadersPolicy(base_headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    return pydo.Client(DEFAULT_TOKEN, endpoint=emu.base_url, authentication_policy=bearer)


def call(
    emu: Emulator, spec: OpenAPI, method: str, path: str, token: str = DEFAULT_TOKEN, **kwargs: Any
) -> requests.Response:
    """One request, its answer validated against the agent-key operations' definitions."""
    prepared = requests.Request(
        method, emu.base_url + path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    ).prepare()
    response = requests.Session().send(prepared, timeout=10)
    errors = list(
        spec.iter_response_errors(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(response))
    )
    assert not errors, f"{method} {path} -> {response.status_code}: {errors}"
    for header in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        assert response.headers[header].isdigit()
    return response


def test_every_operation_answers_as_the_spec_defines(emu: Emulator, spec: OpenAPI) -> None:
    agent = emu.console_create_agent("support-bot")["uuid"]
    keys = f"/v2/gen-ai/agents/{agent}/api_keys"
    made = call(emu, spec, "POST", keys, json={"agent_uuid": agent, "name": "web"})
    assert made.status_code == 200
    info = made.json()["api_key_info"]
    assert info["name"] == "web" and info["secret_key"].startswith("sk-do-")
    listed = call(emu, spec, "GET", keys, params={"per_page": 1}).json()
    assert [k["uuid"] for k in listed["api_key_infos"]] == [info["uuid"]]
    assert "secret_key" not in listed["api_key_infos"][0]
    assert listed["meta"]["total"] == 1
    body = {"agent_uuid": agent, "api_key_uuid": info["uuid"], "name": "web-2"}
    renamed = call(emu, spec, "PUT", f"{keys}/{info['uuid']}", json=body).json()["api_key_info"]
    assert renamed["name"] == "web-2" and "secret_key" not in renamed
    fresh = call(emu, spec, "PUT", f"{keys}/{info['uuid']}/regenerate").json()["api_key_info"]
    assert fresh["secret_key"] not in ("", info["secret_key"])
    gone = call(emu, spec, "DELETE", f"{keys}/{info['uuid']}").json()["api_key_info"]
    assert gone["uuid"] == info["uuid"] and gone["deleted_at"]
    assert call(emu, spec, "GET", keys).json()["api_key_infos"] == []


def test_refusals(emu: Emulator, spec: OpenAPI) -> None:
    agent = emu.console_create_agent("support-bot")["uuid"]
    keys = f"/v2/gen-ai/agents/{agent}/api_keys"
    unknown = "/v2/gen-ai/agents/6d1ff2d0-0000-4000-8000-000000000000/api_keys"
    assert call(emu, spec, "GET", unknown).status_code == 404  # no such agent
    assert call(emu, spec, "POST", unknown, json={"name": "x"}).status_code == 404
    assert call(emu, spec, "GET", keys, token="dop_v1_wrong").status_code == 401
    refused = call(emu, spec, "POST", keys, token=READ_ONLY, json={"name": "x"})
    assert refused.status_code == 403 and "genai:create" in refused.json()["message"]
    mismatched = call(emu, spec, "POST", keys, json={"agent_uuid": "another", "name": "x"})
    assert mismatched.status_code == 400


def test_model_keys_and_agent_keys_are_kept_apart(emu: Emulator) -> None:
    """Each collection sees only its own keys: the other's uuids are not found there."""
    model_key = emu.console_create("chatbot")
    a = emu.console_create_agent("a")["uuid"]
    b = emu.console_create_agent("b")["uuid"]
    client = do_client(emu)
    a_key = client.genai.create_agent_api_key(a, {"agent_uuid": a, "name": "a-web"})["api_key_info"]

    assert [k["uuid"] for k in client.genai.list_model_api_keys()["api_key_infos"]] == [model_key["uuid"]]
    assert [k["uuid"] for k in client.genai.list_agent_api_keys(a)["api_key_infos"]] == [a_key["uuid"]]
    assert client.genai.list_agent_api_keys(b)["api_key_infos"] == []
    answers: list[Any] = [
        client.genai.regenerate_agent_api_key(b, a_key["uuid"]),  # another agent's key
        client.genai.regenerate_agent_api_key(a, model_key["uuid"]),  # a model key
        client.genai.regenerate_model_api_key(a_key["uuid"]),  # an agent key as a model key
        client.genai.delete_agent_api_key(b, a_key["uuid"]),
    ]
    # pydo hands back a documented 404's body (DigitalOcean's error: id not_found)
    assert [answer["id"] for answer in answers] == ["not_found"] * 4
    agents = client.genai.list_agents()["agents"]
    assert [(x["uuid"], x["deployment"]["url"]) for x in agents] == [
        (a, f"{emu.base_url}/agents/{a}"),
        (b, f"{emu.base_url}/agents/{b}"),
    ]


def test_the_agent_endpoint_takes_only_its_agents_current_keys(emu: Emulator) -> None:
    a = emu.console_create_agent("a")["uuid"]
    b = emu.console_create_agent("b")["uuid"]
    client = do_client(emu)
    made = client.genai.create_agent_api_key(a, {"name": "web"})["api_key_info"]
    b_secret = client.genai.create_agent_api_key(b, {"name": "web"})["api_key_info"]["secret_key"]
    model_secret = emu.console_create("chatbot")["secret_key"]
    endpoint = f"{emu.base_url}/agents/{a}/api/v1"

    def ask(secret: str) -> str:
        agent = gradient.Gradient(agent_access_key=secret, base_url=endpoint, max_retries=0)
        answer = agent.agents.chat.completions.create(
            messages=[{"role": "user", "content": "What is the capital of Portugal?"}], model="ignored"
        )
        return str(answer.model)

    assert ask(made["secret_key"]) == AGENT_MODEL  # the agent's model, whatever the request names
    for refused in (b_secret, model_secret):
        with pytest.raises(gradient.AuthenticationError):
            ask(refused)
    fresh = client.genai.regenerate_agent_api_key(a, made["uuid"])["api_key_info"]["secret_key"]
    with pytest.raises(gradient.AuthenticationError):
        ask(made["secret_key"])  # regenerate kills the old secret at once
    assert ask(fresh) == AGENT_MODEL

    # the official openai client works against it too; the serverless surface refuses agent keys
    answer = openai.OpenAI(api_key=fresh, base_url=endpoint, max_retries=0).chat.completions.create(
        model="any", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key=fresh, base_url=f"{emu.base_url}/v1", max_retries=0).models.list()
    assert (
        requests.get(
            f"{endpoint}/models", headers={"Authorization": f"Bearer {fresh}"}, timeout=10
        ).status_code
        == 404
    )
    unknown = requests.post(f"{emu.base_url}/agents/nope/api/v1/chat/completions", json={}, timeout=10)
    assert unknown.status_code == 404


def test_agents_and_their_keys_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    with Emulator(EmulatorConfig(state_file=state)) as first:
        agent = first.console_create_agent("support-bot")["uuid"]
        client = do_client(first)
        secret = client.genai.create_agent_api_key(agent, {"name": "web"})["api_key_info"]["secret_key"]
    with Emulator(EmulatorConfig(state_file=state)) as second:
        assert [a.uuid for a in second.store.agents()] == [agent]
        key = second.store.find_by_secret(secret)
        assert key is not None and key.agent_uuid == agent and second.store.list() == []


def test_a_state_file_from_before_agents_is_upgraded_in_place(tmp_path: Path) -> None:
    """Format 2 had model keys only: opened, it gains the agents, its keys stay model keys."""
    state = tmp_path / "sandbox.db"
    db = sqlite3.connect(state)
    db.execute(
        "CREATE TABLE keys (seq INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, "
        "created_at TEXT NOT NULL, created_by TEXT NOT NULL, secret_sha256 TEXT NOT NULL, "
        "regenerations INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute(
        "INSERT INTO keys (uuid, name, created_at, created_by, secret_sha256) VALUES "
        "('11efb7d6-cdb5-6388-bf8f-4e013e2ddde4', 'chatbot', '2026-11-01T00:00:00Z', '1', 'ab')"
    )
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    with Emulator(EmulatorConfig(state_file=state)) as upgraded:
        assert [k.name for k in upgraded.store.list()] == ["chatbot"]
        upgraded.console_create_agent("support-bot")
    assert sqlite3.connect(state).execute("PRAGMA user_version").fetchone()[0] == 3
