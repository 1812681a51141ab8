"""A stack's life through the real `pulumi` binary: adopt control-panel keys, stay still when
nothing changed, rename, refresh, destroy."""

from __future__ import annotations

from collections.abc import Callable

import hvac
import pytest

from sandbox.server import Emulator
from tests.pulumi_cli.engine import PulumiProject
from tests.pulumi_cli.stackkit import (
    DUAL,
    IN_PLACE,
    accepted,
    list_floor,
    make_in_panel,
    requests_made,
    vault_secret,
    vault_versions,
)

PATHS = [DUAL["vault_path"], IN_PLACE["vault_path"]]


def test_adopt_then_nothing_changes(
    make_project: Callable[..., PulumiProject],
    emulator: Emulator,
    root_vault: hvac.Client,
    prefix: str,
    policy_token: str,
) -> None:
    shown = make_in_panel(emulator, [DUAL, IN_PLACE])
    # Every command with a Vault token that holds only the shipped policy, as CI should run it.
    project = make_project(vault_token=policy_token)
    project.configure([DUAL, IN_PLACE], prefix)

    preview = project.preview()
    # The adoption plan: which control-panel keys are adopted, each regenerated once.
    for name in shown:
        assert f"adopt {name}" in preview.stdout or f", {name} (" in preview.stdout, preview
    assert preview.stdout.count("regenerate once") == 2, preview
    assert requests_made(emulator, "regenerate") == 0  # a preview changes nothing

    project.up()
    for path in PATHS:
        secret, _version = vault_secret(root_vault, prefix, path)
        assert accepted(emulator, secret), f"the secret Vault holds for {path} is refused"
    for name, secret in shown.items():
        assert not accepted(emulator, secret), f"the control panel's secret of {name} still works"
    state = {r["outputs"]["name"]: r["outputs"] for r in project.resources()}
    assert state["chatbot"]["slot_a_name"] == "chatbot-slot-a"
    assert state["chatbot"]["slot_b_name"] == "chatbot-slot-b"
    assert state["batch"]["slot_b_uuid"] == ""

    versions = vault_versions(root_vault, prefix, PATHS)
    regenerated = requests_made(emulator, "regenerate")
    project.up("--expect-no-changes")
    project.preview("--expect-no-changes")
    assert vault_versions(root_vault, prefix, PATHS) == versions  # no Vault version churn
    assert requests_made(emulator, "regenerate") == regenerated  # and no rotation

    lists = requests_made(emulator, "list")
    project.refresh("--expect-no-changes")
    assert requests_made(emulator, "list") - lists == list_floor(3)
    assert vault_versions(root_vault, prefix, PATHS) == versions


def test_rename_is_an_update_and_destroy_applies_on_delete(
    adopted: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    project = adopted([DUAL, IN_PLACE])
    before, version = vault_secret(root_vault, prefix, DUAL["vault_path"])

    renamed = {**DUAL, "name": "assistant"}
    project.configure([renamed, IN_PLACE], prefix)
    preview = project.preview()
    assert "1 to update" in preview.stdout, preview
    assert "replace" not in preview.stdout, preview
    project.up()
    names = sorted(k.name for k in emulator.store.list())
    assert names == ["assistant-slot-a", "assistant-slot-b", "batch"]
    # A rename is not a rotation: consumers keep the secret they hold.
    assert vault_secret(root_vault, prefix, DUAL["vault_path"]) == (before, version)
    assert accepted(emulator, before)
    project.up("--expect-no-changes")

    project.destroy()
    assert len(emulator.store) == 0  # the DigitalOcean keys are deleted
    # on_delete: soft-delete (the default) leaves a recoverable, deleted version ...
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault_secret(root_vault, prefix, DUAL["vault_path"])
    metadata = root_vault.secrets.kv.v2.read_secret_metadata(f"{prefix}/apps/chatbot", mount_point="secret")
    assert metadata["data"]["versions"][str(version)]["deletion_time"]
    # ... and on_delete: destroy removes every version and the metadata.
    with pytest.raises(hvac.exceptions.InvalidPath):
        root_vault.secrets.kv.v2.read_secret_metadata(f"{prefix}/apps/batch", mount_point="secret")
    assert project.resources() == []


def test_refresh_drops_a_key_deleted_in_the_panel_and_up_names_what_to_create(
    adopted: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    project = adopted([DUAL, IN_PLACE])
    project.refresh("--expect-no-changes")

    batch = next(k for k in emulator.store.list() if k.name == "batch")
    emulator.store.delete(batch.uuid)  # deleted in the control panel, outside the tool
    refreshed = project.refresh()
    assert "1 deleted" in refreshed.stdout, refreshed
    assert [r["outputs"]["name"] for r in project.resources()] == ["chatbot"]

    preview = project.preview()
    assert "create 'batch' at DigitalOcean" in preview.stdout, preview
    failed = project.up(ok=False)
    assert failed.returncode != 0
    assert "create 'batch' with the model scope and VPC you need" in failed.output, failed
    assert "Traceback" not in failed.output, failed

    make_in_panel(emulator, [IN_PLACE])
    project.up()
    secret, _version = vault_secret(root_vault, prefix, IN_PLACE["vault_path"])
    assert accepted(emulator, secret)
    project.preview("--expect-no-changes")
