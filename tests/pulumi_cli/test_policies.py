"""The stack's policies through the real `pulumi` binary: `pulumi preview` fails on a rule in
`fail` mode before anything changes, warns on the key's resource in `warn` mode, and `pulumi up`
writes the declared owner into the key's Vault metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hvac

from sandbox.server import Emulator
from tests.pulumi_cli.engine import PulumiProject
from tests.pulumi_cli.stackkit import DUAL, IN_PLACE, make_in_panel

RULES = {"owner": {}, "in_place": {}, "key_name": {"pattern": "^[a-z]+-slot-[ab]$"}}


def with_mode(mode: str) -> dict[str, Any]:
    return {rule: {**fields, "mode": mode} for rule, fields in RULES.items()}


def owner_of(vault: hvac.Client, prefix: str, path: str) -> str | None:
    read = vault.secrets.kv.v2.read_secret_metadata(f"{prefix}/{path}", mount_point="secret")
    return (read["data"]["custom_metadata"] or {}).get("owner")


def test_fail_mode_stops_preview_and_up(
    make_project: Callable[..., PulumiProject], emulator: Emulator, prefix: str
) -> None:
    make_in_panel(emulator, [DUAL, IN_PLACE])
    project = make_project()
    project.configure([{**DUAL, "owner": "chat-team"}, IN_PLACE], prefix, policies=with_mode("fail"))
    before = {k.name: k.regenerations for k in emulator.store.list()}

    for run in (project.preview(ok=False), project.up(ok=False)):
        assert run.returncode != 0 and "Traceback" not in run.output, run
        assert "policy in_place (fail): key 'batch' is in-place" in run.output, run
        assert "policy owner (fail): key 'batch' names no owner" in run.output, run
        assert "policy key_name (fail): DigitalOcean key name 'batch' does not match" in run.output, run
        assert "key 'chatbot'" not in run.output, run  # chatbot meets every rule
    assert {k.name: k.regenerations for k in emulator.store.list()} == before  # nothing adopted
    assert project.resources() == []


def test_warn_mode_warns_on_the_resource_and_goes_ahead(
    make_project: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    make_in_panel(emulator, [DUAL, IN_PLACE])
    project = make_project()
    project.configure([{**DUAL, "owner": "chat-team"}, IN_PLACE], prefix, policies=with_mode("warn"))

    preview = project.preview()
    assert "warning: policy in_place (warn): key 'batch' is in-place" in preview.output, preview
    assert "warning: policy owner (warn): key 'batch' names no owner" in preview.output, preview
    up = project.up()
    assert "policy in_place (warn)" in up.output, up
    assert len(project.resources()) == 2
    assert owner_of(root_vault, prefix, DUAL["vault_path"]) == "chat-team"
    assert owner_of(root_vault, prefix, IN_PLACE["vault_path"]) is None

    # the owner changes with the declaration, without a new secret
    versions = {r["outputs"]["vault_path"]: r["outputs"]["vault_version"] for r in project.resources()}
    project.configure(
        [{**DUAL, "owner": "search-team"}, {**IN_PLACE, "owner": "batch-team"}],
        prefix,
        policies=with_mode("warn"),
    )
    up = project.up()
    assert "policy owner" not in up.output, up
    assert owner_of(root_vault, prefix, DUAL["vault_path"]) == "search-team"
    assert owner_of(root_vault, prefix, IN_PLACE["vault_path"]) == "batch-team"
    assert {
        r["outputs"]["vault_path"]: r["outputs"]["vault_version"] for r in project.resources()
    } == versions
