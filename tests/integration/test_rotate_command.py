"""`gradient-keys rotate` against the emulator and a real OpenBao, and the ledger it shares with
the provider."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.conftest import vault_client
from tests.inference_probe import works
from tests.integration.rotation_env import REPO, Managed, manage, regenerations

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "rotate_every": "30d"},
]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/rot-{tmp_path.name[-8:]}")


def age(managed: Managed, path: str, rotated_at: str = "2026-01-01T00:00:00Z") -> None:
    sink = managed.sink()
    secret, entry = sink.read_secret(path)
    assert entry.ledger is not None
    sink.write(path, secret, dataclasses.replace(entry.ledger, rotated_at=rotated_at), entry.version)


def test_nothing_is_due_right_after_adoption(managed: Managed) -> None:
    code, document, _err = managed.rotate("--due")
    assert code == 0
    assert [k["status"] for k in document["keys"]] == ["not-due", "not-due"]
    assert document["summary"]["rotated"] == 0


def test_due_rotates_what_is_due_and_nothing_else(managed: Managed, emulator: Emulator) -> None:
    age(managed, "apps/chatbot")
    before = managed.sink().read_secret("apps/chatbot")[0]
    code, document, _err = managed.rotate("--due")
    assert code == 0, document
    statuses = {k["key"]: (k["status"], k["reason"]) for k in document["keys"]}
    assert statuses["chatbot"][0] == "rotated" and statuses["chatbot"][1].startswith("due since 2026-01-08")
    assert statuses["batch"][0] == "not-due"
    after = managed.sink().read_secret("apps/chatbot")[0]
    assert after != before and works(emulator, after.reveal())
    assert works(emulator, before.reveal())  # dual-slot: the previous secret lives one more period
    code, document, _err = managed.rotate("--due")
    assert document["summary"]["rotated"] == 0  # not due any more


def test_named_keys_and_dry_run(managed: Managed) -> None:
    sink = managed.sink()
    version = sink.read_ledger("apps/batch")
    code, document, _err = managed.rotate("batch", "--dry-run")
    assert code == 0 and document["dry_run"] and document["keys"][0]["status"] == "planned"
    assert sink.read_ledger("apps/batch") == version  # a dry run changes nothing
    code, document, _err = managed.rotate("batch")
    assert code == 0 and [k["status"] for k in document["keys"]] == ["rotated"]
    assert document["keys"][0]["vault_version"] == 2


def test_emergency_kills_every_old_secret_and_vault_holds_the_new_one(
    managed: Managed, emulator: Emulator
) -> None:
    sink = managed.sink()
    # Give slot b a known, valid secret too (one ordinary rotation), then leak "everything".
    code, _document, _err = managed.rotate("chatbot")
    assert code == 0
    current = sink.read_secret("apps/chatbot")[0]
    before = regenerations(emulator, "chatbot")
    assert len(before) == 2
    code, document, _err = managed.rotate("chatbot", "--emergency")
    assert code == 0 and document["emergency"] and document["keys"][0]["status"] == "rotated"
    fresh = sink.read_secret("apps/chatbot")[0]
    assert not works(emulator, current.reveal())  # refused at once
    assert works(emulator, fresh.reveal())
    after = regenerations(emulator, "chatbot")
    assert {u: after[u] - n for u, n in before.items()} == dict.fromkeys(before, 1)  # both slots, once


def test_bad_usage_exits_2_and_failures_exit_1(managed: Managed, emulator: Emulator) -> None:
    code, _document, err = managed.rotate("no-such-key")
    assert code == 2 and "no key named 'no-such-key'" in err and "declared: batch, chatbot" in err
    code, _document, err = managed.rotate()
    assert code == 2 and "--due, --all, or KEY" in err
    emulator.inject(operation="regenerate", kind="error", status=400)
    code, document, _err = managed.rotate("batch")
    assert code == 1 and document["keys"][0]["status"] == "failed"


def test_unreachable_digitalocean_exits_3(managed: Managed) -> None:
    managed.env["DIGITALOCEAN_API_URL"] = "http://127.0.0.1:9"
    code, document, _err = managed.rotate("batch")
    assert code == 3 and document["summary"]["unreachable"]


def test_the_provider_sees_the_commands_rotation(managed: Managed) -> None:
    """A token rotation done by the command is not repeated by the provider, and the reverse."""
    import yaml

    document = yaml.safe_load(managed.stack_file.read_text())
    document["config"]["gradient-keys:keys"][0]["rotation_token"] = "incident-7"
    managed.stack_file.write_text(yaml.safe_dump(document))
    code, result, _err = managed.rotate("--due")
    assert code == 0 and {k["key"]: k["status"] for k in result["keys"]}["chatbot"] == "rotated"
    settings = managed.settings()
    ops = managed.operations(vault=managed.sink())
    assert ops.pending_rotation(settings.keys[0]) == ""  # what the provider's check computes
    code, result, _err = managed.rotate("--due")
    assert result["summary"]["rotated"] == 0


def test_rotate_output_never_holds_a_secret(managed: Managed) -> None:
    secrets = [managed.sink().read_secret(p)[0].reveal() for p in ("apps/chatbot", "apps/batch")]
    outputs = []
    for args in (("--all",), ("chatbot", "--emergency"), ("--due", "--dry-run")):
        code, document, err = managed.rotate(*args)
        assert code == 0, err
        outputs += [str(document), err]
        secrets += [managed.sink().read_secret(p)[0].reveal() for p in ("apps/chatbot", "apps/batch")]
    table = subprocess.run(
        [sys.executable, "-m", "components.cli", "rotate", "--config", str(managed.stack_file), "batch"],
        cwd=REPO, env={**os.environ, **managed.env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    outputs += [table.stdout, table.stderr]
    secrets += [managed.sink().read_secret("apps/batch")[0].reveal()]
    for secret in secrets:
        assert all(secret not in text for text in outputs)


def test_a_dry_run_changes_nothing_in_vault_not_even_a_stale_mirror(
    managed: Managed, openbao: OpenBaoServer
) -> None:
    vault = vault_client(openbao, managed.env["VAULT_TOKEN"])
    full = f"{managed.prefix}/apps/chatbot"
    current = vault.secrets.kv.v2.read_secret_version(
        full, mount_point="secret", raise_on_deleted_version=True
    )
    # A writer that died between its two writes: a new version whose mirror was not updated.
    vault.secrets.kv.v2.create_or_update_secret(full, current["data"]["data"], mount_point="secret")
    before = vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]
    code, _document, err = managed.rotate("--due", "--dry-run")
    assert code == 0, err
    after = vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]
    assert after["custom_metadata"] == before["custom_metadata"]
    assert after["current_version"] == before["current_version"]
    assert after["updated_time"] == before["updated_time"]


def test_a_table_dry_run_prints_its_plan_on_stdout(managed: Managed) -> None:
    """The plan is a dry run's output: on stdout, with a "would rotate" summary, no "rotated 0"."""
    age(managed, "apps/chatbot")
    result = subprocess.run(
        [sys.executable, "-m", "components.cli", "rotate", "--config", str(managed.stack_file), "--due",
         "--dry-run"],
        cwd=REPO, env={**os.environ, **managed.env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KEY", "STATUS", "OUTAGE", "REASON", "DETAIL"]
    assert {line.split()[0]: line.split()[1] for line in lines[1:3]} == {
        "chatbot": "planned",
        "batch": "not-due",
    }
    assert lines[-1].startswith("would rotate 1 of 2 key(s) (stack rot, dry run ")
    assert "rotated 0" not in result.stdout + result.stderr
    assert "KEY" not in result.stderr  # the plan is not printed twice


def test_a_json_dry_run_summary_says_would_rotate(managed: Managed) -> None:
    age(managed, "apps/chatbot")
    code, document, err = managed.rotate("--due", "--dry-run")
    assert code == 0, err
    assert document["summary"]["would_rotate"] == 1 and document["summary"]["rotated"] == 0
    code, document, err = managed.rotate("--due")
    assert code == 0 and "would_rotate" not in document["summary"]


@pytest.mark.parametrize("unsettled", [False, True], ids=["settled", "unsettled ledger"])
def test_a_dry_run_needs_no_digitalocean_token(
    managed: Managed, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, unsettled: bool
) -> None:
    """Planning reads Vault only; an unsettled ledger's check calls the inference endpoint with the
    stored secret, not DigitalOcean's API: neither needs DIGITALOCEAN_TOKEN."""
    expected = {"chatbot": "planned", "batch": "not-due"}
    age(managed, "apps/chatbot")
    if unsettled:
        sink = managed.sink()
        secret, entry = sink.read_secret("apps/batch")
        assert entry.ledger is not None
        sink.write("apps/batch", secret, dataclasses.replace(entry.ledger, unsettled="true"), entry.version)
        emulator.store.regenerate(managed.states["batch"].slot_a_uuid)  # a late commit killed it
        expected["batch"] = "planned"  # found by the inference check, with no token
    managed.env.pop("DIGITALOCEAN_TOKEN")
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    code, document, err = managed.rotate("--due", "--dry-run")
    assert code == 0, err
    assert {k["key"]: k["status"] for k in document["keys"]} == expected
    planned = list(expected.values()).count("planned")
    assert (
        document["summary"]["would_rotate"] == planned and document["summary"]["digitalocean_requests"] == 0
    )
    table = subprocess.run(
        [sys.executable, "-m", "components.cli", "rotate", "--config", str(managed.stack_file), "--due",
         "--dry-run"],
        cwd=REPO, env={**os.environ, **managed.env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert table.returncode == 0 and f"would rotate {planned} of 2 key(s)" in table.stdout, table.stderr
    code, document, err = managed.rotate("--due")  # a real run still needs it: a usage error
    assert code == 2 and document["error"]["kind"] == "ConfigurationError", err


def test_details_say_when_a_key_falls_due_and_why_a_rerun_waits(managed: Managed) -> None:
    code, document, err = managed.rotate("--due")
    assert code == 0, err
    details = {k["key"]: k["detail"] for k in document["keys"]}
    assert re.fullmatch(r"rotated \S+Z; due \S+Z \(rotate_every 7d\)", details["chatbot"]), details
    assert details["batch"].endswith("(rotate_every 30d)")
    assert managed.rotate("chatbot")[0] == 0
    code, document, err = managed.rotate("chatbot")
    assert code == 0 and document["keys"][0]["status"] == "not-due", err
    detail = document["keys"][0]["detail"]
    assert "less than --min-interval 1h ago" in detail and detail.endswith("; --force rotates it anyway")


def test_an_unreachable_inference_endpoint_is_exit_3_not_a_refused_secret(managed: Managed) -> None:
    env = {**managed.env, "DIGITALOCEAN_INFERENCE_URL": "http://127.0.0.1:9"}
    before = managed.sink().read_secret("apps/chatbot")[1].version
    command = ["rotate", "--config", str(managed.stack_file), "chatbot", "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "components.cli", *command],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    detail = json.loads(result.stdout)["keys"][0]["detail"]
    assert "the inference endpoint http://127.0.0.1:9 did not answer usably (no answer" in detail
    assert "not accepted" not in detail and "Vault is unchanged" in detail
    assert managed.sink().read_secret("apps/chatbot")[1].version == before


def test_the_summary_says_where_the_rotations_time_went(managed: Managed) -> None:
    """Pacing, DigitalOcean, Vault and the check of each new secret, timed by the clients
    themselves: a part whose stopwatch is lost reads 0 here."""
    managed.env["GRADIENT_KEYS_DO_BURST_PER_MINUTE"] = "120"  # a request every ~0.5 s: pacing shows
    age(managed, "apps/chatbot")
    age(managed, "apps/batch")
    code, document, _err = managed.rotate("--all", "--yes")
    assert code == 0, document
    summary = document["summary"]
    assert summary["rotated"] == 2
    spent = summary["time"]
    assert set(spent) == {"pacing", "digitalocean", "vault", "verification", "other"}
    for part in ("pacing", "digitalocean", "vault", "verification"):
        assert spent[part] > 0, (part, spent)
    assert spent["pacing"] >= 0.2  # two regenerates 0.52 s apart at 96% of 120 a minute, the first early
    # One key at a time: the parts are slices of the rotation's own seconds.
    assert sum(spent.values()) == pytest.approx(summary["seconds"], abs=0.01)


def test_a_bulk_run_stops_at_the_first_unreachable_service(managed: Managed) -> None:
    """Every key needs the same DigitalOcean: after one key exhausted its retries the others are not
    tried (each would only wait out the same budget); the rerun resumes them."""
    managed.env["DIGITALOCEAN_API_URL"] = "http://127.0.0.1:9"
    code, document, _err = managed.rotate("--all")
    assert code == 3, document
    first, second = document["keys"]
    assert first["status"] == second["status"] == "failed"
    assert first["detail"].startswith("unreachable: ")
    assert second["detail"].startswith("not attempted: stopped at the first unreachable service")
