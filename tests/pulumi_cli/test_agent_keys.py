"""Agent API keys through the real `pulumi` binary, in one stack with a model key: `pulumi up`
creates the agent's keys (create is live for them) and stores their secrets in Vault, a preview
after it changes nothing, a new rotation_token rotates an agent key, and `pulumi destroy` deletes
them; the secrets work at the agent's endpoint only, and none is in the stack's state."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hvac

from sandbox.server import Emulator
from tests.inference_probe import agent_status
from tests.pulumi_cli.engine import PulumiProject
from tests.pulumi_cli.stackkit import DUAL, make_in_panel, vault_secret


def agents_block(emulator: Emulator, agent: str, web: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "uuid": agent,
            "endpoint": f"{emulator.base_url}/agents/{agent}",
            "keys": [
                web,
                {
                    "name": "support-batch",
                    "vault_path": "agents/support/batch",
                    "strategy": "in-place",
                    "on_delete": "destroy",
                },
            ],
        }
    ]


def test_a_stack_with_model_and_agent_keys(
    make_project: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    agent = emulator.console_create_agent("support-bot")["uuid"]
    make_in_panel(emulator, [DUAL])
    project = make_project()
    web = {"name": "support-web", "vault_path": "agents/support/web", "on_delete": "destroy"}
    project.configure([DUAL], prefix, agents=agents_block(emulator, agent, web))

    preview = project.preview()
    assert "create 'support-web-slot-a' and 'support-web-slot-b' at DigitalOcean" in preview.output, preview
    project.up()
    assert sorted(k.name for k in emulator.store.list(agent)) == [
        "support-batch",
        "support-web-slot-a",
        "support-web-slot-b",
    ]
    web_secret, _version = vault_secret(root_vault, prefix, "agents/support/web")
    batch_secret, _version = vault_secret(root_vault, prefix, "agents/support/batch")
    assert (
        agent_status(emulator, agent, web_secret) == 200
        and agent_status(emulator, agent, batch_secret) == 200
    )
    chatbot_secret, _version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    assert agent_status(emulator, agent, chatbot_secret) == 401  # a model key is not the agent's

    state = project.run("stack", "export", "--show-secrets").stdout
    for secret in (web_secret, batch_secret, chatbot_secret):
        assert secret not in state
    resources = {r["outputs"]["name"]: r["outputs"] for r in project.resources()}
    assert resources["support-web"]["agent_uuid"] == agent and resources["chatbot"]["agent_uuid"] == ""

    unchanged = project.preview("--expect-no-changes")
    assert unchanged.returncode == 0, unchanged

    project.configure([DUAL], prefix, agents=agents_block(emulator, agent, {**web, "rotation_token": "r1"}))
    project.up()
    rotated, version = vault_secret(root_vault, prefix, "agents/support/web")
    assert version == 2 and rotated != web_secret
    assert agent_status(emulator, agent, rotated) == 200 and agent_status(emulator, agent, web_secret) == 200

    project.destroy()
    assert emulator.store.list(agent) == []
    outputs = json.loads(project.run("stack", "output", "--json").stdout or "{}")
    assert outputs == {}
