"""Rotations through the real `pulumi` binary: a new rotation_token under a live consumer, a
rotation due by age shown in preview, the `gradient-keys rotate` command between two ups, and a
new vault_path."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Callable

import hvac

from components.rotation import format_time
from sandbox.server import Emulator
from tests.live_consumer import LiveConsumer
from tests.pulumi_cli.engine import REPO, PulumiProject
from tests.pulumi_cli.stackkit import DUAL, accepted, requests_made, vault_secret


def age_ledger(vault: hvac.Client, prefix: str, path: str, days: int) -> None:
    """Make the key's last rotation `days` older, as if that much time had passed."""
    full = f"{prefix}/{path}"
    metadata = vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]["custom_metadata"]
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    vault.secrets.kv.v2.update_metadata(
        full, mount_point="secret", custom_metadata={**metadata, "rotated_at": format_time(then)}
    )


def test_a_new_rotation_token_rotates_once_and_a_live_consumer_sees_no_failure(
    adopted: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    project = adopted([DUAL])
    before, version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    slot = project.resources()[0]["outputs"]["active_slot"]

    project.configure([{**DUAL, "rotation_token": "2026-11-25"}], prefix)
    preview = project.preview()
    assert "rotation_token changed to '2026-11-25'" in preview.stdout, preview
    assert "1 to update" in preview.stdout, preview

    consumer = LiveConsumer(project.env, f"{prefix}/{DUAL['vault_path']}")
    try:
        project.up()
    finally:
        summary = consumer.stop()
    after, new_version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    assert after != before and new_version > version
    assert accepted(emulator, after)
    assert accepted(emulator, before)  # dual-slot: the previous secret lives until the next rotation
    assert project.resources()[0]["outputs"]["active_slot"] != slot
    assert summary["calls"] > 20 and summary["key_changes"] >= 1, summary
    assert summary["failed"] == 0, summary

    regenerated = requests_made(emulator, "regenerate")
    project.up("--expect-no-changes")  # the token was applied once; it does not rotate again
    assert requests_made(emulator, "regenerate") == regenerated


def test_a_due_rotation_shows_in_preview_and_one_done_by_the_command_is_not_repeated(
    adopted: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    project = adopted([DUAL])
    age_ledger(root_vault, prefix, DUAL["vault_path"], days=8)  # rotate_every: 7d

    preview = project.preview()
    assert "due since" in preview.stdout, preview
    assert "1 to update" in preview.stdout, preview

    command = ["rotate", "--due", "--format", "json", "--config", str(project.stack_file)]
    rotated = subprocess.run(
        [sys.executable, "-m", "components.cli", *command],
        cwd=REPO,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert [k["status"] for k in json.loads(rotated.stdout)["keys"]] == ["rotated"], rotated.stdout
    secret, version = vault_secret(root_vault, prefix, DUAL["vault_path"])
    regenerated = requests_made(emulator, "regenerate")

    project.preview("--expect-no-changes")
    project.up()
    assert requests_made(emulator, "regenerate") == regenerated  # not rotated a second time
    assert vault_secret(root_vault, prefix, DUAL["vault_path"]) == (secret, version)
    assert accepted(emulator, secret)


def test_a_new_vault_path_replaces_the_key(
    adopted: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    project = adopted([DUAL])
    uuids = sorted(k.uuid for k in emulator.store.list())

    moved = {**DUAL, "vault_path": "apps/assistant"}
    project.configure([moved], prefix)
    preview = project.preview()
    assert "1 to create" in preview.stdout and "1 to delete" in preview.stdout, preview
    project.up()

    secret, _version = vault_secret(root_vault, prefix, moved["vault_path"])
    assert accepted(emulator, secret)  # the new path holds a working secret ...
    # ... of the same DigitalOcean keys (the name did not change), which the old resource's
    # deletion therefore kept; the old path got its on_delete (soft-delete).
    assert sorted(k.uuid for k in emulator.store.list()) == uuids
    old = root_vault.secrets.kv.v2.read_secret_metadata(
        f"{prefix}/{DUAL['vault_path']}", mount_point="secret"
    )
    current = old["data"]["current_version"]
    assert old["data"]["versions"][str(current)]["deletion_time"]
    assert [r["outputs"]["vault_path"] for r in project.resources()] == ["apps/assistant"]
    project.preview("--expect-no-changes")


def test_pulumi_up_and_the_command_racing_rotate_each_key_once(
    adopted: Callable[..., PulumiProject], emulator: Emulator, root_vault: hvac.Client, prefix: str
) -> None:
    """The command and the provider both apply a new rotation_token, at the same time, through the
    real engine (issue 12, defect 4): each key is rotated once, and its pre-run secret, which
    dual-slot consumers may still hold, keeps working."""
    keys = [{**DUAL, "name": f"racer-{i}", "vault_path": f"apps/racer-{i}"} for i in range(3)]
    project = adopted(keys)
    before = {k["vault_path"]: vault_secret(root_vault, prefix, k["vault_path"])[0] for k in keys}
    counts = {k.uuid: k.regenerations for k in emulator.store.list()}
    project.configure([{**k, "rotation_token": "race-1"} for k in keys], prefix)
    emulator.inject(operation="regenerate", kind="delay", delay_seconds=1.5, times=6)  # widen the overlap
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "components.cli",
            "rotate",
            "--due",
            "--format",
            "json",
            "--config",
            str(project.stack_file),
        ],
        cwd=REPO,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        project.up()
    finally:
        out, err = command.communicate(timeout=300)
    assert command.returncode == 0, err
    assert "Traceback" not in err
    after = {k.uuid: k.regenerations for k in emulator.store.list()}
    rotated = {uuid: after[uuid] - counts.get(uuid, 0) for uuid in after}
    assert sum(rotated.values()) == len(keys), (rotated, out)  # one regenerate per key, by either side
    for key in keys:
        secret, _version = vault_secret(root_vault, prefix, key["vault_path"])
        assert secret != before[key["vault_path"]] and accepted(emulator, secret)
        assert accepted(emulator, before[key["vault_path"]])  # the pre-run secret still works
    project.up("--expect-no-changes")
