"""Agent API keys through the same core as model keys, against the emulator (real pydo over HTTP)
and a real OpenBao, with a Vault token holding only the generated policy: created (create is live
for agent keys) or adopted, stored in Vault, rotated dual-slot and in place by `gradient-keys
rotate`, audited per collection, deleted; every new secret checked at the agent's own endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.clients import ClientFactory
from components.config import load_stack_file
from components.keys import KeyContext, KeyOperations
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import agent_status, inference_status
from tests.integration.rotation_env import Managed, environment


@pytest.fixture
def stack(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> tuple[Managed, str]:
    """A stack with one model key and two keys of one agent, all deployed by the core."""
    agent = emulator.console_create_agent("support-bot")["uuid"]
    prefix = f"gradient-keys/agents-{tmp_path.name[-8:]}"
    config: dict[str, Any] = {
        "gradient-keys:vault": {"path_prefix": prefix},
        "gradient-keys:keys": [{"name": "chatbot", "vault_path": "apps/chatbot"}],
        "gradient-keys:agents": [
            {
                "uuid": agent,
                "endpoint": f"{emulator.base_url}/agents/{agent}",
                "keys": [
                    {"name": "support-web", "vault_path": "agents/support/web"},
                    {
                        "name": "support-batch",
                        "vault_path": "agents/support/batch",
                        "strategy": "in-place",
                        "on_delete": "destroy",
                    },
                ],
            }
        ],
    }
    stack_file = tmp_path / "Pulumi.rot.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    settings = load_stack_file(stack_file)
    env = environment(emulator, openbao, tmp_path, prefix)
    ops = KeyOperations(KeyContext.of(settings), ClientFactory(env))
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    states = {spec.name: ops.create_or_adopt(spec) for spec in settings.keys}
    managed = Managed(tmp_path, stack_file, env, {s.name: s for s in settings.keys}, states, prefix)
    return managed, agent


def test_agent_keys_are_created_stored_and_work_at_their_agent_only(
    stack: tuple[Managed, str], emulator: Emulator
) -> None:
    managed, agent = stack
    agent_keys = sorted(k.name for k in emulator.store.list(agent))
    assert agent_keys == ["support-batch", "support-web-slot-a", "support-web-slot-b"]
    assert sorted(k.name for k in emulator.store.list()) == ["chatbot-slot-a", "chatbot-slot-b"]
    sink = managed.sink()
    web, entry = sink.read_secret("agents/support/web")
    assert entry.ledger is not None and entry.ledger.slot_a == managed.states["support-web"].slot_a_uuid
    assert agent_status(emulator, agent, web.reveal()) == 200
    assert inference_status(emulator, web.reveal()) == 401  # an agent key is no model key
    chatbot, _entry = sink.read_secret("apps/chatbot")
    assert (
        agent_status(emulator, agent, chatbot.reveal()) == 401
        and inference_status(emulator, chatbot.reveal()) == 200
    )


def test_rotate_and_audit_cover_agent_keys(stack: tuple[Managed, str], emulator: Emulator) -> None:
    managed, agent = stack
    sink = managed.sink()
    web_before = sink.read_secret("agents/support/web")[0].reveal()
    batch_before = sink.read_secret("agents/support/batch")[0].reveal()
    code, document, err = managed.rotate("--all")
    assert code == 0, err
    rotated = {k["key"] for k in document["keys"] if k["status"] == "rotated"}
    assert rotated == {"chatbot", "support-web", "support-batch"}
    web_after = sink.read_secret("agents/support/web")[0].reveal()
    batch_after = sink.read_secret("agents/support/batch")[0].reveal()
    assert agent_status(emulator, agent, web_after) == 200
    assert agent_status(emulator, agent, web_before) == 200  # dual-slot: the old one still works
    assert agent_status(emulator, agent, batch_after) == 200
    assert agent_status(emulator, agent, batch_before) == 401  # in place: the old one is dead

    code, document, err = managed.command("history", "support-web")
    assert code == 0, err
    assert [(v["version"], v["reason"]) for v in document["versions"]] == [(2, "requested"), (1, "adoption")]

    code, document, err = managed.audit("--verify-secrets", "--fail-on", "info")
    assert code == 0 and document["findings"] == [], (err, document["findings"])
    assert document["summary"]["digitalocean_keys"] == 5

    # keys made outside the tool, under the agent: unmanaged, and said to be the agent's, even
    # one named like a model key's slot (names are per collection)
    emulator.store.create("stray", agent)
    emulator.store.create("chatbot-slot-a", agent)
    _code, document, _err = managed.audit()
    strays = sorted(f["message"] for f in document["findings"] if f["id"] == "unmanaged-key")
    assert [m.split(" (")[0] for m in strays] == [
        f"API key of agent {agent} 'chatbot-slot-a'",
        f"API key of agent {agent} 'stray'",
    ]
    # a managed agent key deleted in the control panel: missing at DigitalOcean
    emulator.store.delete(managed.states["support-batch"].slot_a_uuid, agent)
    _code, document, _err = managed.audit()
    assert ("missing-at-digitalocean", "support-batch") in {(f["id"], f["key"]) for f in document["findings"]}


def test_agent_keys_are_adopted_by_name_and_deleted(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    agent = emulator.console_create_agent("helpdesk")["uuid"]
    shown = emulator.store.create("helpdesk-prod", agent)[1]  # made earlier, its secret seen by someone
    prefix = f"gradient-keys/agent-adopt-{tmp_path.name[-8:]}"
    stack_file = tmp_path / "Pulumi.rot.yaml"
    declared = {"name": "helpdesk-prod", "vault_path": "agents/helpdesk", "strategy": "in-place"}
    config = {
        "gradient-keys:vault": {"path_prefix": prefix},
        "gradient-keys:keys": [],
        "gradient-keys:agents": [
            {"uuid": agent, "endpoint": f"{emulator.base_url}/agents/{agent}", "keys": [declared]}
        ],
    }
    stack_file.write_text(yaml.safe_dump({"config": config}))
    settings = load_stack_file(stack_file)
    env = environment(emulator, openbao, tmp_path, prefix)
    ops = KeyOperations(KeyContext.of(settings), ClientFactory(env))
    (spec,) = settings.keys
    assert ops.plan_create(spec).startswith("adopt helpdesk-prod (")
    state = ops.create_or_adopt(spec)
    assert [k.name for k in emulator.store.list(agent)] == ["helpdesk-prod"]
    assert agent_status(emulator, agent, shown) == 401  # adoption retires the secret shown before
    stored = ops.vault.read_secret("agents/helpdesk")[0]
    assert agent_status(emulator, agent, stored.reveal()) == 200
    ops.delete(spec, state)
    assert emulator.store.list(agent) == []


def test_a_new_agent_secret_is_checked_at_the_agent_endpoint(
    stack: tuple[Managed, str], emulator: Emulator
) -> None:
    """The agent's endpoint refusing the new secret stops the rotation before Vault changes:
    the check went to the agent, not to the serverless endpoint (which never sees agent keys)."""
    managed, _agent = stack
    before = managed.sink().read_ledger("agents/support/web")
    emulator.inject(operation="chat_completions", kind="error", status=401, times=100)
    code, document, _err = managed.rotate("support-web")
    emulator.faults.clear()
    (outcome,) = document["keys"]
    assert code == 1 and outcome["status"] == "failed"
    assert "was not accepted by its agent's endpoint; Vault is unchanged" in outcome["detail"]
    after = managed.sink().read_ledger("agents/support/web")
    assert before is not None and after is not None and after.version == before.version


def test_keys_list_shows_an_agents_keys(stack: tuple[Managed, str]) -> None:
    managed, agent = stack
    listed = subprocess.run(
        [sys.executable, "-m", "components.cli", "keys", "list", "--agent", agent, "--format", "json"],
        env={**os.environ, **managed.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    names = sorted(k["name"] for k in json.loads(listed.stdout)["keys"])
    assert names == ["support-batch", "support-web-slot-a", "support-web-slot-b"]
    refused = subprocess.run(
        [sys.executable, "-m", "components.cli", "keys", "list", "--agent", "../models/api_keys"],
        env={**os.environ, **managed.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (
        refused.returncode == 2
        and "is not an agent uuid" in refused.stderr
        and "Traceback" not in refused.stderr
    )
