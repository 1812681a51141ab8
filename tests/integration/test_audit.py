"""`gradient-keys audit`: each finding type built for real in the emulator and OpenBao; a clean
setup produces none; exit codes; the audit changes nothing and prints no secret."""

from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml

from components.ledger import LEDGER_DATA_FIELD
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import REPO, Managed, manage
from tests.integration.test_audit_report import audit as audit_text  # the table and Markdown

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "30d"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "rotate_every": "30d"},
]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/audit-{tmp_path.name[-8:]}")


def findings(managed: Managed, *args: str) -> tuple[int, dict[str, Any], set[tuple[str, str | None]]]:
    code, document, err = managed.audit(*args)
    assert document, err
    return code, document, {(f["id"], f["key"]) for f in document["findings"]}


def set_ledger(managed: Managed, path: str, **changes: Any) -> None:
    sink = managed.sink()
    secret, entry = sink.read_secret(path)
    assert entry.ledger is not None
    sink.write(path, secret, dataclasses.replace(entry.ledger, **changes), entry.version)


def test_a_clean_setup_has_no_findings(managed: Managed) -> None:
    code, document, found = findings(managed, "--verify-secrets", "--fail-on", "info")
    assert found == set() and code == 0
    assert document["schema"] == "gradient-keys/audit/v1"
    assert document["summary"]["keys_declared"] == 2 and document["summary"]["digitalocean_keys"] == 3
    assert {k["key"]: k["next_rotation"] != "" for k in document["keys"]} == {"chatbot": True, "batch": True}


def test_declared_but_missing_at_digitalocean(managed: Managed, emulator: Emulator) -> None:
    emulator.store.delete(managed.states["batch"].slot_a_uuid)
    code, document, found = findings(managed)
    assert ("missing-at-digitalocean", "batch") in found and code == 1
    assert next(f for f in document["findings"] if f["key"] == "batch")["severity"] == "critical"


def test_a_dual_slot_key_missing_a_slot(managed: Managed, emulator: Emulator) -> None:
    emulator.store.delete(managed.states["chatbot"].slot_b_uuid)  # the inactive slot
    _code, document, found = findings(managed)
    assert ("missing-slot", "chatbot") in found
    finding = next(f for f in document["findings"] if f["id"] == "missing-slot")
    assert finding["severity"] == "high" and "next rotation would fail" in finding["message"]


def test_unmanaged_keys_with_ignore_and_scope(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    extra = {"gradient-keys:audit": {"ignore": ["legacy-tool"], "scope_prefix": "team-"}}
    managed = manage(emulator, openbao, tmp_path, KEYS, prefix="gradient-keys/audit-scope", extra=extra)
    for name in ("team-stray", "legacy-tool", "other-team-key"):
        emulator.console_create(name)
    _code, document, found = findings(managed)
    unmanaged = [f for f in document["findings"] if f["id"] == "unmanaged-key"]
    assert [f["message"].split("'")[1] for f in unmanaged] == [
        "team-stray"
    ]  # ignored and out-of-scope skipped
    assert ("unmanaged-key", None) in found


def test_name_drift(managed: Managed, emulator: Emulator) -> None:
    emulator.store.rename(managed.states["chatbot"].slot_a_uuid, "renamed-in-the-console")
    _code, _document, found = findings(managed)
    assert ("name-drift", "chatbot") in found


def test_vault_entry_missing(managed: Managed, root_vault: hvac.Client) -> None:
    root_vault.secrets.kv.v2.delete_metadata_and_all_versions(
        f"{managed.prefix}/apps/batch", mount_point="secret"
    )
    _code, _document, found = findings(managed)
    assert ("vault-entry-missing", "batch") in found
    assert ("missing-at-digitalocean", "batch") not in found  # its DigitalOcean key is still there


def test_ledger_uuids_that_do_not_match_digitalocean(managed: Managed, emulator: Emulator) -> None:
    set_ledger(managed, "apps/batch", slot_a="11ef0000-0000-6000-8000-000000000000")
    _code, _document, found = findings(managed)
    assert ("ledger-mismatch", "batch") in found
    assert ("missing-at-digitalocean", "batch") in found  # the uuid the ledger names is not there


def test_secret_changed_outside_needs_verify(managed: Managed, root_vault: hvac.Client) -> None:
    root_vault.secrets.kv.v2.patch(
        f"{managed.prefix}/apps/chatbot", {"api_key": "sk-do-pasted-by-hand"}, mount_point="secret"
    )
    _code, _document, found = findings(managed)
    assert ("secret-changed-outside", "chatbot") not in found  # not without --verify-secrets...
    assert ("ledger-stale", "chatbot") in found  # ...but the unexplained version is flagged
    code, document, found = findings(managed, "--verify-secrets")
    assert ("secret-changed-outside", "chatbot") in found and code == 1
    assert "sk-do-pasted-by-hand" not in str(document)


def test_secret_replaced_with_a_plain_put_is_caught(managed: Managed, root_vault: hvac.Client) -> None:
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{managed.prefix}/apps/batch", {"api_key": "sk-do-put-by-hand"}, mount_point="secret"
    )
    _code, _document, found = findings(managed, "--verify-secrets")
    assert ("secret-changed-outside", "batch") in found


def test_rotation_overdue_due_soon_and_pending(managed: Managed) -> None:
    set_ledger(managed, "apps/chatbot", rotated_at="2026-01-01T00:00:00Z")
    soon = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=28)).strftime("%Y-%m-%dT%H:%M:%SZ")
    set_ledger(managed, "apps/batch", rotated_at=soon)
    _code, document, found = findings(managed)
    assert ("rotation-overdue", "chatbot") in found and ("rotation-due-soon", "batch") in found
    severities = {f["id"]: f["severity"] for f in document["findings"]}
    assert severities["rotation-overdue"] == "medium" and severities["rotation-due-soon"] == "info"
    code, _document, _found = findings(managed, "--fail-on", "medium")
    assert code == 1
    code, _document, _found = findings(managed, "--fail-on", "high")
    assert code == 0


def test_undeclared_vault_entries(managed: Managed, root_vault: hvac.Client) -> None:
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{managed.prefix}/apps/forgotten/one", {"api_key": "x"}, mount_point="secret"
    )
    _code, document, found = findings(managed)
    assert ("undeclared-vault-entry", None) in found
    assert [
        f["digitalocean_uuid"] or f["vault_path"]
        for f in document["findings"]
        if f["id"] == "undeclared-vault-entry"
    ] == ["apps/forgotten/one"]


def test_another_stacks_keys_under_a_nested_prefix_are_not_this_stacks_business(managed: Managed) -> None:
    """A stack whose prefix sits inside this one's: its keys and its own records are left alone."""
    secret, entry = managed.sink().read_secret("apps/chatbot")
    assert entry.ledger is not None
    nested = VaultSink(path_prefix=f"{managed.prefix}/team-b", environ=managed.env)
    nested.write("apps/search", secret, dataclasses.replace(entry.ledger, stack="team-b"), 0)
    nested.write_record("_gradient-keys/leases/team-b", {"run_id": "r"})
    _code, document, _found = findings(managed)
    assert [f for f in document["findings"] if f["id"] == "undeclared-vault-entry"] == []


def test_a_key_dropped_from_the_stack_file_is_not_called_left_over(managed: Managed) -> None:
    text = managed.stack_file.read_text()
    kept = yaml.safe_load(text)
    kept["config"]["gradient-keys:keys"] = [
        k for k in kept["config"]["gradient-keys:keys"] if k["name"] != "batch"
    ]
    managed.stack_file.write_text(yaml.safe_dump(kept))
    _code, document, _found = findings(managed)
    dropped = [f for f in document["findings"] if f["id"] == "undeclared-vault-entry"]
    assert [(f["vault_path"], f["severity"]) for f in dropped] == [("apps/batch", "medium")]
    assert "no longer declares it" in dropped[0]["message"] and "delete it (`vault" not in dropped[0]["fix"]


def test_a_second_key_with_a_managed_slots_name_is_reported(managed: Managed, emulator: Emulator) -> None:
    """DigitalOcean allows two keys with one name: one made by hand under a managed slot's name is
    not the slot's key (the ledger records the uuid), and nothing may pass it over in silence."""
    extra, _secret = emulator.store.create("chatbot-slot-a")
    code, document, found = findings(managed)
    assert ("duplicate-name", "chatbot") in found and code == 1
    finding = next(f for f in document["findings"] if f["id"] == "duplicate-name")
    assert finding["digitalocean_uuid"] == extra.uuid and finding["severity"] == "high"
    assert managed.states["chatbot"].slot_a_uuid in finding["message"]
    assert not [f for f in document["findings"] if f["id"] == "unmanaged-key"]  # said once


def test_a_key_adopted_by_uuid_that_does_not_exist_is_said_by_its_uuid(managed: Managed) -> None:
    stack = yaml.safe_load(managed.stack_file.read_text())
    ghost = "11efb7d6-cdb5-6388-bf8f-4e013e2ddde4"
    stack["config"]["gradient-keys:keys"].append(
        {"name": "ghost", "vault_path": "apps/ghost", "strategy": "in-place", "adopt": {"uuid": ghost}}
    )
    managed.stack_file.write_text(yaml.safe_dump(stack))
    _code, document, found = findings(managed)
    assert ("missing-at-digitalocean", "ghost") in found
    finding = next(f for f in document["findings"] if f["id"] == "missing-at-digitalocean")
    assert finding["message"] == f"no DigitalOcean key with the adopted uuid {ghost} exists"
    assert "keys list" in finding["fix"] and "create ghost" not in finding["fix"]


def test_the_audit_changes_nothing(managed: Managed, emulator: Emulator, root_vault: hvac.Client) -> None:
    # A stale mirror would be repaired by a normal read; the audit must leave it as it is.
    sink = managed.sink()
    secret, entry = sink.read_secret("apps/chatbot")
    assert entry.ledger is not None
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{managed.prefix}/apps/chatbot",
        {"api_key": secret.reveal(), LEDGER_DATA_FIELD: entry.ledger.to_data_field()},
        cas=entry.version,
        mount_point="secret",
    )
    before_vault = root_vault.secrets.kv.v2.read_secret_metadata(
        f"{managed.prefix}/apps/chatbot", mount_point="secret"
    )
    before_do = [(k.uuid, k.name, k.regenerations, k.secret_sha256) for k in emulator.store.list()]
    findings(managed, "--verify-secrets")
    after_vault = root_vault.secrets.kv.v2.read_secret_metadata(
        f"{managed.prefix}/apps/chatbot", mount_point="secret"
    )
    assert after_vault["data"] == before_vault["data"]
    assert [(k.uuid, k.name, k.regenerations, k.secret_sha256) for k in emulator.store.list()] == before_do


def test_table_output_and_exit_codes(managed: Managed, emulator: Emulator) -> None:
    import subprocess

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, **managed.env, **(env or {})}
        command = [sys.executable, "-m", "components.cli", "audit", *args]
        return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, check=False)

    clean = run("--config", str(managed.stack_file))
    assert clean.returncode == 0 and "no findings" in clean.stdout
    emulator.store.delete(managed.states["batch"].slot_a_uuid)
    table = run("--config", str(managed.stack_file))
    assert (
        table.returncode == 1
        and "missing-at-digitalocean" in table.stdout
        and "CRITICAL missing-at-digitalocean batch" in table.stdout
    )
    assert run("--stack", "nope").returncode == 2
    assert (
        run("--config", str(managed.stack_file), env={"DIGITALOCEAN_TOKEN": "dop_v1_wrong"}).returncode == 4
    )
    assert (
        run(
            "--config", str(managed.stack_file), env={"DIGITALOCEAN_API_URL": "http://127.0.0.1:9"}
        ).returncode
        == 3
    )
    assert run("--config", str(managed.stack_file), env={"VAULT_ADDR": "http://127.0.0.1:9"}).returncode == 3
    for output in (clean.stdout + clean.stderr, table.stdout + table.stderr):
        assert "sk-do-" not in output


def test_a_declared_rotation_token_not_yet_applied(managed: Managed) -> None:
    import yaml

    document = yaml.safe_load(managed.stack_file.read_text())
    document["config"]["gradient-keys:keys"][1]["rotation_token"] = "quarterly-q4"
    managed.stack_file.write_text(yaml.safe_dump(document))
    code, result, found = findings(managed)
    assert ("rotation-pending", "batch") in found and code == 0  # low: below the default threshold
    assert next(f for f in result["findings"] if f["id"] == "rotation-pending")["severity"] == "low"


# -- rotate_every against the time consumers need to pick up a new version --------------------------
PICKUP = "rotation-outpaces-consumers"


def redeclare(managed: Managed, defaults: dict[str, Any] | None = None, **keys: dict[str, Any]) -> None:
    """Change what the stack file declares (the audit reads it afresh; Vault and DigitalOcean keep
    what `manage` made): `defaults`, and each named key's fields."""
    document = yaml.safe_load(managed.stack_file.read_text())
    config = document["config"]
    if defaults is not None:
        config["gradient-keys:defaults"] = defaults
    for declared in config["gradient-keys:keys"]:
        declared.update(keys.get(declared["name"], {}))
    managed.stack_file.write_text(yaml.safe_dump(document))


def test_rotating_faster_than_consumers_pick_up_is_a_medium_finding(managed: Managed) -> None:
    redeclare(
        managed,
        defaults={"consumer_pickup": "2h"},
        chatbot={"rotate_every": "1h"},
        batch={"rotate_every": "2h"},  # not shorter than the pickup: the old secret outlives it
    )
    code, document, found = findings(managed, "--fail-on", "medium")
    assert (PICKUP, "chatbot") in found and (PICKUP, "batch") not in found
    (finding,) = [f for f in document["findings"] if f["id"] == PICKUP]
    assert finding["severity"] == "medium" and finding["vault_path"] == "apps/chatbot"
    assert "key 'chatbot' rotates every 1h (rotate_every)" in finding["message"]
    assert "up to 2h (consumer_pickup)" in finding["message"]
    assert (
        finding["fix"].startswith("lengthen rotate_every to 2h or more")
        and "consumer_pickup" in finding["fix"]
    )
    assert next(k for k in document["keys"] if k["key"] == "chatbot")["findings"] == 1
    # --fail-on counts it like any medium finding, and it is the only one at medium or above
    assert [f["id"] for f in document["findings"] if f["severity"] != "info"] == [PICKUP] and code == 1
    code, _document, _found = findings(managed, "--fail-on", "high")
    assert code == 0
    table = audit_text(managed, "--fail-on", "medium")
    assert (
        table.returncode == 1 and f"MEDIUM {PICKUP} chatbot: key 'chatbot' rotates every 1h" in table.stdout
    )
    markdown = audit_text(managed, "--format", "markdown")
    assert markdown.returncode == 0 and f"| medium | `{PICKUP}` | chatbot |" in markdown.stdout


def test_a_keys_own_consumer_pickup_overrides_the_default(managed: Managed) -> None:
    redeclare(
        managed,
        defaults={"consumer_pickup": "2h"},
        chatbot={"rotate_every": "1h", "consumer_pickup": "30m"},  # picked up well inside the hour
        batch={"rotate_every": "1h"},  # the stack's 2h
    )
    _code, document, found = findings(managed)
    assert (PICKUP, "chatbot") not in found and (PICKUP, "batch") in found
    (finding,) = [f for f in document["findings"] if f["id"] == PICKUP]
    assert "up to 2h (consumer_pickup)" in finding["message"]
    assert "for an in-place key any pickup time is an outage" in finding["message"]


def test_without_consumer_pickup_consumers_are_given_five_minutes(managed: Managed) -> None:
    redeclare(managed, chatbot={"rotate_every": "4m"}, batch={"rotate_every": "5m"})
    _code, document, found = findings(managed)
    assert (PICKUP, "chatbot") in found and (PICKUP, "batch") not in found
    assert (
        "up to 5m (consumer_pickup)" in next(f for f in document["findings"] if f["id"] == PICKUP)["message"]
    )
    redeclare(managed, chatbot={"rotate_every": "never"}, batch={"rotate_every": "never"})
    _code, _document, found = findings(managed)
    assert not [f for f in found if f[0] == PICKUP]  # no scheduled rotation: nothing to outpace
