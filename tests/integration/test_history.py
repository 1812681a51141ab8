"""`gradient-keys history KEY` against the emulator and a real OpenBao: every rotation of a key,
from the Vault versions and the ledger each was written with: when, by whom (the command, its run
id, the CI job), why, which slot, the fingerprint; the same in the audit's JSON. The tool's Vault
token holds only the generated policy (or the audit-only one), never root."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml

from components import cli
from components.clients import ClientFactory
from components.history import read_history
from components.inference_check import key_works
from components.keys import KeyOperations, KeyState
from components.ledger import Ledger
from components.provenance import Actor, Provenance, Reason
from components.secret import Secret
from components.vault_policy import render_policy
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.conftest import vault_client
from tests.integration.rotation_env import REPO, Managed, manage

KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"},
    {"name": "batch", "vault_path": "apps/batch", "strategy": "in-place", "rotate_every": "30d"},
]
# Every CI variable the tool reads, blank: the test process may itself run in CI.
NO_CI = dict.fromkeys(
    (
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "GITHUB_ACTOR",
        "CI_JOB_URL",
        "GITLAB_USER_LOGIN",
    ),
    "",
)


def github(run: str, actor: str = "octocat") -> dict[str, str]:
    return {
        **NO_CI,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": run,
        "GITHUB_ACTOR": actor,
    }


def github_job(run: str) -> str:
    return f"https://github.com/acme/infra/actions/runs/{run}"


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    made = manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/hist-{tmp_path.name[-8:]}")
    made.env.update(NO_CI)
    return made


def gk(managed: Managed, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`gradient-keys ARGS --config STACK` as a subprocess, with the managed environment."""
    return subprocess.run(
        [sys.executable, "-m", "components.cli", *args, "--config", str(managed.stack_file)],
        cwd=REPO,
        env={**os.environ, **managed.env, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def history(managed: Managed, key: str, *args: str) -> tuple[int, dict[str, Any], str]:
    return managed.command("history", key, *args)


def versions(document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {v["version"]: v for v in document["versions"]}


def age(vault: hvac.Client, managed: Managed, path: str) -> None:
    """The ledger mirror says the last rotation was long ago (no new version is written)."""
    full = f"{managed.prefix}/{path}"
    custom = vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]["custom_metadata"]
    vault.secrets.kv.v2.update_metadata(
        full, mount_point="secret", custom_metadata={**custom, "rotated_at": "2026-01-01T00:00:00Z"}
    )


def declare_token(managed: Managed, token: str) -> None:
    document = yaml.safe_load(managed.stack_file.read_text())
    document["config"]["gradient-keys:keys"][0]["rotation_token"] = token
    managed.stack_file.write_text(yaml.safe_dump(document))


def rotate(managed: Managed, ci: dict[str, str], *args: str) -> dict[str, Any]:
    managed.env.update(ci)
    code, document, err = managed.rotate(*args)
    assert code == 0, err
    return document


def test_every_rotation_by_the_command_says_when_who_why_slot_and_fingerprint(
    managed: Managed, openbao: OpenBaoServer
) -> None:
    vault = vault_client(openbao)
    age(vault, managed, "apps/chatbot")
    by_age = rotate(managed, github("1001"), "--due")
    declare_token(managed, "incident-7")
    by_token = rotate(managed, github("1002", "deploy-bot"), "--due", "--min-interval", "0")
    emergency = rotate(managed, NO_CI, "chatbot", "--emergency")
    gitlab = {
        **NO_CI,
        "CI_JOB_URL": "https://gitlab.example.com/acme/infra/-/jobs/77",
        "GITLAB_USER_LOGIN": "jane",
    }
    asked = rotate(managed, gitlab, "chatbot", "--min-interval", "0")

    code, document, err = history(managed, "chatbot")
    assert code == 0, err
    assert (document["schema"], document["key"], document["current_version"]) == (
        "gradient-keys/history/v1",
        "chatbot",
        6,
    )
    assert not document["partial"] and not document["truncated"]
    seen = versions(document)
    assert list(seen) == [6, 5, 4, 3, 2, 1]  # newest first
    who_why = {
        v: (e["actor"], e["reason"], e["run_id"], e["active_slot"], e["ci_job"], e["ci_user"])
        for v, e in seen.items()
    }
    assert who_why == {
        6: ("gradient-keys rotate", "requested", asked["run_id"], "b", gitlab["CI_JOB_URL"], "jane"),
        5: ("gradient-keys rotate", "emergency", emergency["run_id"], "a", None, None),
        4: ("gradient-keys rotate", "emergency", emergency["run_id"], "a", None, None),
        3: ("gradient-keys rotate", "token", by_token["run_id"], "a", github_job("1002"), "deploy-bot"),
        2: ("gradient-keys rotate", "age", by_age["run_id"], "b", github_job("1001"), "octocat"),
        1: (None, "adoption", None, "a", None, None),  # adopted by the core driven directly
    }
    fingerprints = {d["keys"][0]["vault_version"]: d["keys"][0]["fingerprint"] for d in (asked, by_token)}
    assert seen[6]["fingerprint"] == fingerprints[6] and seen[3]["fingerprint"] == fingerprints[3]
    assert seen[4]["pending_slots"] == "b" and seen[5]["pending_slots"] is None
    assert [seen[v]["new_secret"] for v in (6, 5, 4, 3, 2, 1)] == [True, False, True, True, True, None]
    assert seen[5]["note"] == "emergency finished: slot b regenerated"
    assert seen[3]["rotation_token"] == "incident-7"
    assert all(e["ledger_source"] == "version" and e["state"] == "available" for e in seen.values())
    current_secret = managed.sink().read_secret("apps/chatbot")[0]
    assert seen[6]["fingerprint"] == current_secret.fingerprint
    assert seen[6]["slot_uuid"] == managed.states["chatbot"].slot_b_uuid


def test_a_stored_secret_found_dead_is_recorded_as_such(managed: Managed, emulator: Emulator) -> None:
    sink = managed.sink()
    secret, entry = sink.read_secret("apps/batch")
    assert entry.ledger is not None
    unsettled = Ledger(**{**vars(entry.ledger), "unsettled": "true"})
    sink.write("apps/batch", secret, unsettled, entry.version)
    emulator.store.regenerate(managed.states["batch"].slot_a_uuid)  # a late commit killed it
    rotate(managed, NO_CI, "--due")
    code, document, err = history(managed, "batch")
    assert code == 0, err
    newest, marked, _adopted = document["versions"]
    assert (newest["reason"], newest["actor"], newest["new_secret"]) == (
        "secret-dead",
        "gradient-keys rotate",
        True,
    )
    assert marked["unsettled"] and "unsettled" in marked["note"]


def test_the_table_fits_100_columns_and_shows_the_ci_job(managed: Managed) -> None:
    rotate(managed, github("31337"), "chatbot")
    result = gk(managed, "history", "chatbot")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "WRITTEN", "BY", "WHY", "SLOT", "FINGERPRINT", "RUN"]
    table = lines[:3]
    assert all(len(line) <= 100 for line in table), table
    assert table[1].split()[:2] == ["2", "*"] and table[1].split()[3:5] == ["rotate", "requested"]
    assert table[2].split()[2:4] == ["-", "adoption"]
    assert f"  version 2: CI {github_job('31337')} (by octocat)" in lines
    assert lines[-1].startswith("key chatbot (stack rot, secret/gradient-keys/hist-")
    assert "shown 2 of the 2 version(s) Vault keeps; the current one is 2 (*)" in lines[-1]


def test_an_unknown_key_is_a_usage_error_naming_the_declared_keys(managed: Managed) -> None:
    code, document, err = history(managed, "chatbto")
    assert code == 2 and "no key named 'chatbto' in stack rot; declared: batch, chatbot" in err
    assert document["error"]["kind"] == "ConfigurationError" and document["error"]["exit_code"] == 2
    assert document["stack"] == "rot"
    for limit in ("0", "many", "-3"):
        code, document, err = history(managed, "chatbot", "--limit", limit)
        assert code == 2 and document["error"]["kind"] == "usage" and "--limit" in err


def test_the_limit_and_the_versions_vault_no_longer_keeps(managed: Managed, openbao: OpenBaoServer) -> None:
    vault = vault_client(openbao)
    vault.secrets.kv.v2.update_metadata(f"{managed.prefix}/apps/batch", mount_point="secret", max_versions=3)
    for _ in range(3):
        rotate(managed, NO_CI, "batch", "--min-interval", "0")
    code, document, err = history(managed, "batch", "--limit", "2")
    assert code == 0, err
    assert [v["version"] for v in document["versions"]] == [4, 3]
    assert document["truncated"] and document["versions_kept"] == 3 and document["oldest_kept_version"] == 2
    table = gk(managed, "history", "batch", "--limit", "2").stdout
    assert "older versions: --limit 3 shows every one Vault keeps" in table
    assert "versions before 2 are no longer kept by Vault (its max_versions)" in table


def test_ledgers_written_before_provenance_still_show(managed: Managed, openbao: OpenBaoServer) -> None:
    """A version written by a gradient-keys that did not record who and why yet."""
    vault = vault_client(openbao)
    full = f"{managed.prefix}/apps/chatbot"
    current = vault.secrets.kv.v2.read_secret_version(
        full, mount_point="secret", raise_on_deleted_version=True
    )
    secret = Secret(current["data"]["data"]["api_key"])
    old = {
        "fingerprint": secret.fingerprint,
        "rotated_at": "2026-10-01T03:17:02Z",
        "slot_a": managed.states["chatbot"].slot_a_uuid,
        "slot_b": managed.states["chatbot"].slot_b_uuid,
        "active_slot": "a",
        "rotation_token": None,
        "stack": "rot",
        "run_id": "0f1e2d3c4b5a",
        "pending_slots": None,
        "origin": "rotate",
        "unsettled": None,
        "managed_by": "gradient-keys",
    }
    vault.secrets.kv.v2.create_or_update_secret(
        full, {"api_key": secret.reveal(), "gradient_keys_ledger": json.dumps(old)}, mount_point="secret"
    )
    mirror = {k: v for k, v in old.items() if v is not None and k != "managed_by"}
    vault.secrets.kv.v2.update_metadata(
        full, mount_point="secret", custom_metadata={**mirror, "managed-by": "gradient-keys", "version": "2"}
    )
    rotate(managed, NO_CI, "chatbot")  # the tool goes on from an old ledger
    code, document, err = history(managed, "chatbot")
    assert code == 0, err
    seen = versions(document)
    assert (seen[2]["actor"], seen[2]["reason"], seen[2]["run_id"], seen[2]["origin"]) == (
        None,
        None,
        "0f1e2d3c4b5a",
        "rotate",
    )
    assert seen[2]["rotated_at"] == "2026-10-01T03:17:02Z" and seen[2]["note"] == "same secret as version 1"
    assert (seen[3]["actor"], seen[3]["reason"], seen[3]["active_slot"]) == (
        "gradient-keys rotate",
        "requested",
        "b",
    )
    table = gk(managed, "history", "chatbot").stdout.splitlines()
    assert table[2].split()[2:5] == ["-", "-", "a"]  # version 2: by and why not recorded


def test_deleted_and_destroyed_versions_show_as_such(managed: Managed, openbao: OpenBaoServer) -> None:
    rotate(managed, NO_CI, "chatbot")
    rotate(managed, NO_CI, "chatbot", "--min-interval", "0")
    vault = vault_client(openbao)
    full = f"{managed.prefix}/apps/chatbot"
    vault.secrets.kv.v2.destroy_secret_versions(full, [1], mount_point="secret")
    vault.secrets.kv.v2.delete_secret_versions(full, [2], mount_point="secret")
    code, document, err = history(managed, "chatbot")
    assert code == 0, err
    seen = versions(document)
    assert (seen[3]["state"], seen[3]["reason"], seen[3]["new_secret"]) == ("available", "requested", None)
    assert seen[2]["state"] == "deleted" and seen[2]["deleted_at"].endswith("Z")
    assert seen[2]["note"] == f"deleted {seen[2]['deleted_at']}" and seen[2]["fingerprint"] is None
    assert (seen[1]["state"], seen[1]["note"], seen[1]["ledger_source"]) == ("destroyed", "destroyed", None)
    # The current version deleted too: shown with what the metadata knows, nothing taken from a mirror.
    vault.secrets.kv.v2.delete_secret_versions(full, [3], mount_point="secret")
    code, document, err = history(managed, "chatbot")
    assert code == 0, err
    current = versions(document)[3]
    assert (current["state"], current["current"], current["ledger_source"]) == ("deleted", True, None)


def test_a_key_never_deployed_has_an_empty_history(managed: Managed, openbao: OpenBaoServer) -> None:
    vault_client(openbao).secrets.kv.v2.delete_metadata_and_all_versions(
        f"{managed.prefix}/apps/batch", mount_point="secret"
    )
    code, document, err = history(managed, "batch")
    assert code == 0, err
    assert document["versions"] == [] and document["current_version"] == 0
    assert "nothing stored at secret/" in gk(managed, "history", "batch").stdout


def test_the_audit_only_policy_gets_a_partial_history(managed: Managed, openbao: OpenBaoServer) -> None:
    rotate(managed, github("555"), "chatbot")
    vault = vault_client(openbao)
    vault.sys.create_or_update_policy("gk-hist-ro", render_policy("secret", managed.prefix, audit_only=True))
    read_only = vault.auth.token.create(policies=["gk-hist-ro"], no_default_policy=True, ttl="10m")
    managed.env["VAULT_TOKEN"] = read_only["auth"]["client_token"]

    code, document, err = history(managed, "chatbot")
    assert code == 0, err  # no 403 on a version's data: the token's capabilities were asked first
    assert document["partial"] and "audit-only" in document["partial_reason"]
    current, adopted = document["versions"]
    assert (current["ledger_source"], current["reason"], current["ci_job"]) == (
        "mirror",
        "requested",
        github_job("555"),
    )
    assert adopted["ledger_source"] is None and adopted["written_at"].endswith("Z")
    assert adopted["note"] == "ledger not readable with this token (metadata only)"
    assert (
        "partial: this Vault token may not read secret versions" in gk(managed, "history", "chatbot").stdout
    )

    code, report, err = managed.audit()
    assert code == 0, err
    assert report["history"] == {
        "versions_per_key": 5,
        "partial": True,
        "partial_reason": document["partial_reason"],
    }
    row = {k["key"]: k for k in report["keys"]}["chatbot"]
    assert row["last_rotation"]["reason"] == "requested" and row["last_rotation"]["ledger_source"] == "mirror"
    assert [h["ledger_source"] for h in row["history"]] == ["mirror", None]


def test_the_audit_json_carries_each_keys_history(managed: Managed, openbao: OpenBaoServer) -> None:
    # batch is due by age, but `--all` asked for every key: each records that it was requested.
    age(vault_client(openbao), managed, "apps/batch")
    rotate(managed, github("77"), "--all", "--min-interval", "0")
    code, report, err = managed.audit()
    assert code == 0, err
    assert report["history"]["partial"] is False and report["history"]["versions_per_key"] == 5
    rows = {k["key"]: k for k in report["keys"]}
    for name in ("chatbot", "batch"):
        last = rows[name]["last_rotation"]
        assert (last["version"], last["actor"], last["reason"], last["ci_job"]) == (
            2,
            "gradient-keys rotate",
            "requested",
            github_job("77"),
        )
        assert last["ledger_source"] == "mirror"  # the current version's: no secret read for it
        assert [(h["version"], h["reason"], h["ledger_source"]) for h in rows[name]["history"]] == [
            (2, "requested", "mirror"),
            (1, "adoption", "version"),
        ]
    assert rows["chatbot"]["history"][0] == rows["chatbot"]["last_rotation"]
    _code, alone, _err = history(managed, "chatbot")
    assert {k: v for k, v in alone["versions"][1].items()} == rows["chatbot"]["history"][1]


def test_unreachable_vault_exits_3_with_an_error_document(managed: Managed) -> None:
    managed.env["VAULT_ADDR"] = "http://127.0.0.1:9"
    code, document, err = history(managed, "chatbot")
    assert code == 3, err
    assert document["error"]["kind"] == "VaultUnavailableError" and document["stack"] == "rot"


PLANTED = "sk-do-PLANTED-HISTORY-SECRET-4d1c9e"


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """Every logger at DEBUG (hvac's, urllib3's and ours) into one buffer, for the leak search."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root_logger = logging.getLogger()
    old = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    yield buffer
    root_logger.removeHandler(handler)
    root_logger.setLevel(old)


def test_history_and_the_audit_never_show_a_secret(
    managed: Managed,
    openbao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    debug_logs: io.StringIO,
) -> None:
    """A planted secret among the versions, then rotations: no secret any version holds appears in
    what `history` and the audit print (any format, verbose), log at DEBUG, return or repr. The
    token is the generated policy's, as in production."""
    sink = managed.sink()
    planted = Secret(PLANTED)
    _current, entry = sink.read_secret("apps/chatbot")
    assert entry.ledger is not None
    sink.write("apps/chatbot", planted, replace(entry.ledger, fingerprint=planted.fingerprint), entry.version)
    rotate(managed, github("9"), "chatbot", "--force")
    rotate(managed, NO_CI, "chatbot", "--emergency")
    vault = vault_client(openbao)
    full = f"{managed.prefix}/apps/chatbot"
    secrets = [
        vault.secrets.kv.v2.read_secret_version(
            full, version=v, mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]["api_key"]
        for v in range(1, 6)
    ]
    assert PLANTED in secrets and len(set(secrets)) == 4  # the emergency's two versions share one

    outputs = []
    for args in (
        ("history", "chatbot", "--format", "json"),
        ("history", "chatbot"),
        ("-v", "history", "chatbot", "--limit", "3"),
        ("audit", "--format", "json"),
        ("-v", "audit", "--verify-secrets", "--format", "json"),
    ):
        result = gk(managed, *args)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    assert planted.fingerprint in outputs[0]  # the search looks where the history is

    managed.use_env(monkeypatch)
    assert cli.main(["history", "chatbot", "--config", str(managed.stack_file), "--format", "json"]) == 0
    ops = managed.operations()
    spec = managed.specs["chatbot"]
    read = read_history(ops.vault, spec, limit=20, now=ops.clock())
    texts = [repr(read), str(read), repr(ops.vault.read_version_ledger(spec.vault_path, 2))]
    captured = capfd.readouterr()
    outputs += [captured.out, captured.err, debug_logs.getvalue(), *texts]
    assert "?version=1 " in debug_logs.getvalue()  # the DEBUG capture saw the versions read
    for secret in secrets:
        assert all(secret not in text for text in outputs)


def test_a_racer_overwritten_with_our_secret_leaves_our_name_on_it(
    managed: Managed, emulator: Emulator
) -> None:
    """A racer regenerates slot b and stores first; our regenerate of slot b came later (the
    racer's secret is dead), so ours is stored over it, keeping the racer's facts: the version
    must say we wrote it and why, not the racer."""
    spec, state = managed.specs["chatbot"], managed.states["chatbot"]
    ours_minted, racer_stored = threading.Event(), threading.Event()
    pending: list[Future[KeyState]] = []

    def acting(who: Provenance, verify: Callable[[Secret], bool]) -> KeyOperations:
        context = replace(managed.context(), provenance=who)
        return KeyOperations(context, ClientFactory(managed.env, vault=managed.sink()), verify=verify)

    def ours_check(secret: Secret) -> bool:
        verdict = key_works(emulator.base_url, secret, attempts=1)
        if not ours_minted.is_set():
            ours_minted.set()
            assert racer_stored.wait(30), "the racer never stored its secret"
        return verdict

    ours = acting(Provenance(Actor.ROTATE, "our-run", github_job("1")), ours_check)
    with ThreadPoolExecutor(max_workers=1) as pool:

        def racer_check(secret: Secret) -> bool:
            verdict = key_works(emulator.base_url, secret, attempts=1)
            if not pending:
                pending.append(pool.submit(ours.rotate, spec, state, reason=Reason.REQUESTED))
            assert ours_minted.wait(30), "our rotation never regenerated slot b"
            return verdict

        try:
            acting(Provenance(Actor.PULUMI, "racer-run"), racer_check).rotate(spec, state)
        finally:
            racer_stored.set()
        assert pending[0].result(timeout=30).vault_version == 3
    seen = versions(history(managed, "chatbot")[1])
    assert (seen[2]["actor"], seen[2]["run_id"]) == ("pulumi", "racer-run")
    assert (seen[3]["actor"], seen[3]["reason"], seen[3]["run_id"], seen[3]["ci_job"]) == (
        "gradient-keys rotate",
        "requested",
        "our-run",
        github_job("1"),
    )


def test_an_audit_of_a_stack_without_keys_is_not_called_partial(managed: Managed) -> None:
    """No key, no version to read: the audit does not ask whether it may read versions, and does
    not call a history it never needed partial."""
    document = yaml.safe_load(managed.stack_file.read_text())
    document["config"]["gradient-keys:keys"] = []
    managed.stack_file.write_text(yaml.safe_dump(document))
    code, report, err = managed.audit()
    assert code == 0, err
    assert report["keys"] == [] and report["history"]["partial"] is False
