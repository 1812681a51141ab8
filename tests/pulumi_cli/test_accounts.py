"""One stack over two DigitalOcean accounts, with agent keys, through the real `pulumi` binary:
the default account's model key, and in team-b (an API of its own, its token from the
environment) a model key and an agent's key. `pulumi up` adopts or creates each in its own
account, a preview after it changes nothing, a rotation_token rotates team-b's agent key, and
`pulumi destroy` deletes them; neither API ever sees the other's token."""

from __future__ import annotations

from collections.abc import Callable

import hvac

from sandbox.server import Emulator, EmulatorConfig
from tests.inference_probe import agent_status, works
from tests.pulumi_cli.engine import PulumiProject
from tests.pulumi_cli.stackkit import DUAL, make_in_panel, vault_secret

TOKEN_B = "dop_v1_engine_team_b_3e9d20"


def test_a_stack_over_two_accounts_with_agent_keys(
    make_project: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    with Emulator(EmulatorConfig(tokens=(TOKEN_B,))) as team_b:
        agent = team_b.console_create_agent("support-bot")["uuid"]
        search = {"name": "search", "vault_path": "apps/search", "account": "team-b", "on_delete": "destroy"}
        make_in_panel(emulator, [DUAL])
        make_in_panel(team_b, [search])
        project = make_project()
        project.env["DIGITALOCEAN_TOKEN_B"] = TOKEN_B
        account = {
            "name": "team-b",
            "token_from": {"env": "DIGITALOCEAN_TOKEN_B"},
            "api_url": team_b.base_url,
            "inference_url": team_b.base_url,
        }
        web = {"name": "support-web", "vault_path": "agents/support/web", "on_delete": "destroy"}

        def configure(web: dict[str, str]) -> None:
            agents = [
                {
                    "uuid": agent,
                    "account": "team-b",
                    "endpoint": f"{team_b.base_url}/agents/{agent}",
                    "keys": [web],
                }
            ]
            project.configure([DUAL, search], prefix, accounts=[account], agents=agents)

        configure(web)
        project.up()
        assert sorted(k.name for k in emulator.store.list()) == ["chatbot-slot-a", "chatbot-slot-b"]
        assert sorted(k.name for k in team_b.store.list()) == ["search-slot-a", "search-slot-b"]
        assert [k.name for k in team_b.store.list(agent)] == ["support-web-slot-a", "support-web-slot-b"]
        assert works(team_b, vault_secret(root_vault, prefix, "apps/search")[0])
        assert works(emulator, vault_secret(root_vault, prefix, DUAL["vault_path"])[0])
        web_secret, _version = vault_secret(root_vault, prefix, "agents/support/web")
        assert agent_status(team_b, agent, web_secret) == 200
        resources = {r["outputs"]["name"]: r["outputs"] for r in project.resources()}
        assert {name: outputs["account"] for name, outputs in resources.items()} == {
            "chatbot": "default",
            "search": "team-b",
            "support-web": "team-b",
        }
        state = project.run("stack", "export", "--show-secrets").stdout
        assert TOKEN_B not in state and web_secret not in state

        assert project.preview("--expect-no-changes").returncode == 0

        configure({**web, "rotation_token": "r1"})
        project.up()
        rotated, version = vault_secret(root_vault, prefix, "agents/support/web")
        assert version == 2 and rotated != web_secret and agent_status(team_b, agent, rotated) == 200

        project.destroy()
        assert team_b.store.list() == [] and team_b.store.list(agent) == []
        for api in (emulator, team_b):
            assert "unauthenticated" not in api.stats.view(), api.stats.view()
