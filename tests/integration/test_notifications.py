"""Notifications from `gradient-keys rotate` and `gradient-keys audit`, end to end: the command as a
subprocess against the sandbox and a real OpenBao (a token holding only the generated policy), and
a local webhook receiver. Each event reaches the targets that asked for it in the format they asked
for (the generic payload validated against docs/notification.schema.json); a receiver that is dead,
refuses or fails changes neither the run's result nor its exit code and is reported on stderr and in
the JSON document; dry runs send nothing; a webhook URL in the stack file is refused; and no secret,
token or webhook URL appears in anything a receiver got or a run printed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev requirements
import pytest
import yaml

from components.notify_payloads import SCHEMA
from sandbox import store
from sandbox.openbao import OpenBaoServer
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.integration.rotation_env import REPO, Managed, manage, regenerations
from tests.webhook_receiver import Receiver, Reply, dead_url

PAYLOAD_SCHEMA = json.loads((REPO / "docs" / "notification.schema.json").read_text())
GENERIC_TOKEN = "gEnErIcHoOkToKeN-4b1e9d"
SLACK_TOKEN = "sLaCkHoOkToKeN-T000-B000-91ac"
VAULT_TOKEN_IN_URL = "vAuLtKePtHoOkToKeN-07f2"
GENERIC_PATH = f"/hooks/generic/{GENERIC_TOKEN}"
SLACK_PATH = f"/services/T000/B000/{SLACK_TOKEN}"
VAULT_PATH = f"/hooks/vault/{VAULT_TOKEN_IN_URL}"
KEYS = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "30d"},
    {"name": "search", "vault_path": "apps/search", "rotate_every": "30d"},
]
TARGETS = [
    {"name": "ops-generic", "format": "generic", "url_from": {"env": "GRADIENT_KEYS_TEST_GENERIC_HOOK"}},
    {"name": "ops-slack", "format": "slack", "url_from": {"env": "GRADIENT_KEYS_TEST_SLACK_HOOK"}},
    {
        "name": "security",
        "url_from": {"vault": {"path": "notifications/security", "field": "url"}},
        "events": ["emergency", "overdue"],
    },
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret the sandbox mints from now on (the control panel's and every regenerate's)."""
    minted: list[str] = []
    original = store.new_secret

    def recording() -> str:
        minted.append(secret := original())
        return secret

    monkeypatch.setattr(store, "new_secret", recording)
    return minted


def managed_with(
    emulator: Emulator,
    openbao: OpenBaoServer,
    tmp_path: Path,
    receiver: Receiver,
    root_vault: hvac.Client,
    targets: list[dict[str, Any]] = TARGETS,
) -> Managed:
    prefix = f"gradient-keys/notify-{tmp_path.name[-8:]}"
    managed = manage(
        emulator, openbao, tmp_path, KEYS, prefix=prefix, extra={"gradient-keys:notifications": targets}
    )
    managed.env["GRADIENT_KEYS_TEST_GENERIC_HOOK"] = receiver.url(GENERIC_PATH)
    managed.env["GRADIENT_KEYS_TEST_SLACK_HOOK"] = receiver.url(SLACK_PATH)
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{prefix}/notifications/security", {"url": receiver.url(VAULT_PATH)}, mount_point="secret"
    )
    return managed


@pytest.fixture
def managed(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path, receiver: Receiver, root_vault: hvac.Client
) -> Managed:
    return managed_with(emulator, openbao, tmp_path, receiver, root_vault)


def generic(receiver: Receiver) -> list[dict[str, Any]]:
    documents = [r.json() for r in receiver.to(GENERIC_PATH) + receiver.to(VAULT_PATH)]
    for document in documents:
        errors = [e.message for e in jsonschema.Draft202012Validator(PAYLOAD_SCHEMA).iter_errors(document)]
        assert errors == [], errors
    return documents


def slack(receiver: Receiver) -> list[dict[str, Any]]:
    messages = [r.json() for r in receiver.to(SLACK_PATH)]
    for message in messages:
        assert set(message) == {"text", "blocks"} and [b["type"] for b in message["blocks"]] == [
            "header",
            "section",
            "context",
        ]
    return messages


def reported(document: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(n["target"], n["event"], n["delivered"]) for n in document["notifications"]]


def set_ledger(managed: Managed, path: str, **changes: Any) -> None:
    sink = managed.sink()
    secret, entry = sink.read_secret(path)
    assert entry.ledger is not None
    sink.write(path, secret, dataclasses.replace(entry.ledger, **changes), entry.version)


# -- each event -----------------------------------------------------------------------------------------
def test_a_rotation_tells_the_targets_that_asked_in_their_format(
    managed: Managed, receiver: Receiver
) -> None:
    code, document, stderr = managed.rotate("chatbot")
    assert code == 0, stderr
    assert reported(document) == [
        ("ops-generic", "rotation_succeeded", True),
        ("ops-slack", "rotation_succeeded", True),
    ]  # `security` asked for emergencies and overdue keys only
    assert receiver.to(VAULT_PATH) == []
    (payload,) = generic(receiver)
    rotated = document["keys"][0]
    assert (
        payload["schema"] == SCHEMA and payload["event"] == "rotation_succeeded" and payload["stack"] == "rot"
    )
    assert (
        payload["run_id"] == document["run_id"] and payload["source"] == "rotate" and not payload["emergency"]
    )
    assert [(k["key"], k["status"], k["fingerprint"], k["vault_version"]) for k in payload["keys"]] == [
        ("chatbot", "rotated", rotated["fingerprint"], rotated["vault_version"])
    ]
    (message,) = slack(receiver)
    assert (
        "rotated 1 key(s) in stack rot" in message["text"]
        and "`chatbot`" in message["blocks"][1]["text"]["text"]
    )
    assert document["notifications"][0] == {
        "target": "ops-generic",
        "event": "rotation_succeeded",
        "delivered": True,
        "attempts": 1,
        "status": 200,
        "error": None,
    }


def test_failed_keys_are_told_and_the_run_keeps_its_exit_code(
    managed: Managed, receiver: Receiver, emulator: Emulator
) -> None:
    emulator.inject(operation="regenerate", kind="error", status=500, times=1)  # the first key's
    code, document, stderr = managed.rotate("chatbot", "search")
    assert code == 1, stderr
    statuses = {k["key"]: k["status"] for k in document["keys"]}
    assert statuses == {"chatbot": "failed", "search": "rotated"}
    assert reported(document) == [
        ("ops-generic", "rotation_succeeded", True),
        ("ops-slack", "rotation_succeeded", True),
        ("ops-generic", "rotation_failed", True),
        ("ops-slack", "rotation_failed", True),
    ]
    succeeded, failed = generic(receiver)
    assert [k["key"] for k in succeeded["keys"]] == ["search"]
    assert [(k["key"], k["status"]) for k in failed["keys"]] == [("chatbot", "failed")]
    assert (
        "500" in failed["keys"][0]["detail"] and failed["run_id"] == succeeded["run_id"] == document["run_id"]
    )
    assert "FAILED" in slack(receiver)[1]["blocks"][0]["text"]["text"]


def test_an_emergency_is_told_to_the_targets_that_watch_for_one(managed: Managed, receiver: Receiver) -> None:
    code, document, stderr = managed.rotate("chatbot", "--emergency")
    assert code == 0, stderr
    assert reported(document) == [
        ("ops-generic", "emergency", True),
        ("ops-slack", "emergency", True),
        ("security", "emergency", True),  # its URL read from Vault with the policy-only token
    ]
    payloads = generic(receiver)
    assert [p["event"] for p in payloads] == ["emergency", "emergency"] and all(
        p["emergency"] for p in payloads
    )
    assert payloads[0]["keys"][0]["status"] == "rotated" and payloads[0] == {
        **payloads[1],
        "id": payloads[0]["id"],
    }
    assert "Emergency" in slack(receiver)[0]["blocks"][0]["text"]["text"]


def test_an_audit_tells_overdue_keys_and_keeps_its_exit_code(managed: Managed, receiver: Receiver) -> None:
    set_ledger(managed, "apps/search", rotated_at="2026-01-01T00:00:00Z")
    code, document, stderr = managed.audit("--fail-on", "medium")
    assert code == 1, stderr  # the overdue finding is medium: the threshold decides, not the webhooks
    assert reported(document) == [
        ("ops-generic", "overdue", True),
        ("ops-slack", "overdue", True),
        ("security", "overdue", True),
    ]
    payload = generic(receiver)[0]
    assert payload["source"] == "audit" and payload["run_id"] is None
    assert [(k["key"], k["due_since"]) for k in payload["keys"]] == [("search", "2026-01-31T00:00:00Z")]
    # The Vault entry holding the security target's URL is declared by the stack: not a finding.
    assert not [f for f in document["findings"] if f["id"] == "undeclared-vault-entry"]
    code, document, _stderr = managed.audit("--fail-on", "high")
    assert code == 0 and len(document["notifications"]) == 3


def test_a_clean_audit_sends_nothing(managed: Managed, receiver: Receiver) -> None:
    code, document, stderr = managed.audit()
    assert code == 0 and document["notifications"] == [] and receiver.received == [], stderr


# -- failures of the notification itself -------------------------------------------------------------------
def test_dead_and_failing_receivers_do_not_fail_the_rotation_and_are_reported(
    managed: Managed, receiver: Receiver
) -> None:
    managed.env["GRADIENT_KEYS_TEST_GENERIC_HOOK"] = dead_url(GENERIC_PATH)
    receiver.default = Reply(500)
    before = managed.sink().read_ledger("apps/chatbot")
    code, document, stderr = managed.rotate("chatbot")
    assert code == 0, stderr
    assert document["keys"][0]["status"] == "rotated" and document["summary"]["rotated"] == 1
    after = managed.sink().read_ledger("apps/chatbot")
    assert before is not None and after is not None and after.version == before.version + 1  # not undone
    dead, failing = document["notifications"]
    assert dead == {
        "target": "ops-generic",
        "event": "rotation_succeeded",
        "delivered": False,
        "attempts": 4,
        "status": None,
        "error": "no answer (ConnectionRefusedError) after 4 attempt(s)",
    }
    assert (failing["delivered"], failing["attempts"], failing["status"]) == (False, 4, 500)
    assert len(receiver.to(SLACK_PATH)) == 4  # retried, and bounded
    assert "notification rotation_succeeded to ops-generic: NOT delivered: no answer" in stderr
    assert "notification rotation_succeeded to ops-slack: NOT delivered: answered HTTP 500" in stderr
    assert GENERIC_TOKEN not in stderr + json.dumps(document) and SLACK_TOKEN not in stderr


def test_table_mode_reports_each_delivery_on_stderr(managed: Managed, receiver: Receiver) -> None:
    managed.env["GRADIENT_KEYS_TEST_SLACK_HOOK"] = dead_url(SLACK_PATH)
    code, _document, stderr = managed.rotate("chatbot", "--format", "table")
    assert code == 0, stderr
    assert "notification rotation_succeeded to ops-generic: delivered (1 attempt(s))" in stderr
    assert "notification rotation_succeeded to ops-slack: NOT delivered" in stderr
    assert "this does not change the run's result" in stderr


def test_a_url_the_rules_refuse_is_reported_and_never_shown(managed: Managed, receiver: Receiver) -> None:
    managed.env["GRADIENT_KEYS_TEST_GENERIC_HOOK"] = f"http://hooks.example.com/{GENERIC_TOKEN}"
    del managed.env["GRADIENT_KEYS_TEST_SLACK_HOOK"]
    code, document, stderr = managed.rotate("chatbot")
    assert code == 0, stderr
    plain, unset = document["notifications"]
    assert (plain["delivered"], plain["attempts"]) == (False, 0) and "plain http" in plain["error"]
    assert "GRADIENT_KEYS_ALLOW_INSECURE_HTTP" in plain["error"]
    assert (
        unset["error"]
        == "the environment variable GRADIENT_KEYS_TEST_SLACK_HOOK is not set (it holds the webhook URL)"
    )
    assert receiver.received == []
    assert GENERIC_TOKEN not in stderr + json.dumps(document) and "hooks.example.com" not in stderr


def test_a_webhook_url_in_the_stack_file_is_refused_before_anything(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path, receiver: Receiver, root_vault: hvac.Client
) -> None:
    managed = managed_with(emulator, openbao, tmp_path, receiver, root_vault)
    stack = yaml.safe_load(managed.stack_file.read_text())
    url = receiver.url(GENERIC_PATH)
    stack["config"]["gradient-keys:notifications"][0]["url"] = url
    managed.stack_file.write_text(yaml.safe_dump(stack))
    before = regenerations(emulator)
    for verb in ("rotate", "audit"):
        code, document, stderr = managed.command(verb, *(["--yes", "chatbot"] if verb == "rotate" else []))
        assert code == 2, stderr
        assert "notifications[0].url: is refused: a webhook URL is a credential" in stderr
        assert document["error"]["exit_code"] == 2 and "notifications[0].url" in document["error"]["message"]
        assert GENERIC_TOKEN not in stderr + json.dumps(document)
    assert regenerations(emulator) == before and receiver.received == []


def test_dry_runs_send_nothing(managed: Managed, receiver: Receiver) -> None:
    # A declared key not deployed yet fails at planning: a dry run has failed keys to tell, and tells none.
    stack = yaml.safe_load(managed.stack_file.read_text())
    stack["config"]["gradient-keys:keys"].append({"name": "fresh", "vault_path": "apps/fresh"})
    managed.stack_file.write_text(yaml.safe_dump(stack))
    for args in (
        ("--all", "--dry-run"),
        ("chatbot", "fresh", "--emergency", "--dry-run"),
        ("--all", "--dry-run", "--format", "table"),
    ):
        code, document, stderr = managed.rotate(*args)
        assert code == 1, stderr  # `fresh` failed at planning
        assert document.get("notifications", []) == [] and "notification" not in stderr
    assert receiver.received == []


# -- the planted-secret proof ------------------------------------------------------------------------
def run_verbose(managed: Managed, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with `-v` (progress and info logs on stderr), as a job would log it."""
    return subprocess.run(
        [sys.executable, "-m", "components.cli", "-v", *args, "--config", str(managed.stack_file)],
        cwd=REPO,
        env={**os.environ, **managed.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_no_secret_token_or_webhook_url_in_any_payload_or_output(
    issued: list[str],
    emulator: Emulator,
    openbao: OpenBaoServer,
    tmp_path: Path,
    receiver: Receiver,
    root_vault: hvac.Client,
) -> None:
    managed = managed_with(emulator, openbao, tmp_path, receiver, root_vault)
    slack_vault = [
        *TARGETS,
        {"name": "slack-vault", "format": "slack", "url_from": {"vault": {"path": "notifications/security"}}},
    ]
    stack = yaml.safe_load(managed.stack_file.read_text())
    stack["config"]["gradient-keys:notifications"] = slack_vault
    managed.stack_file.write_text(yaml.safe_dump(stack))
    runs: list[Callable[[], subprocess.CompletedProcess[str]]] = [
        lambda: run_verbose(managed, "rotate", "--yes", "chatbot"),
        lambda: run_verbose(managed, "rotate", "--yes", "search", "--format", "json"),
        lambda: run_verbose(managed, "rotate", "--yes", "chatbot", "--emergency", "--format", "json"),
        lambda: run_verbose(managed, "rotate", "--yes", "search", "--force"),  # fails: fault below
        lambda: run_verbose(managed, "audit", "--verify-secrets"),
        lambda: run_verbose(managed, "audit", "--format", "json"),
    ]
    outputs: dict[str, str] = {}
    for index, run in enumerate(runs):
        if index == 3:
            emulator.inject(operation="regenerate", kind="error", status=500, times=1)
            receiver.script(Reply(500), Reply(429))  # and a receiver that fails before it takes it
        if index == 4:
            set_ledger(managed, "apps/search", rotated_at="2026-01-01T00:00:00Z")
        result = run()
        outputs[f"run {index} stdout"] = result.stdout
        outputs[f"run {index} stderr"] = result.stderr
    for index, request in enumerate(receiver.received):
        outputs[f"request {index} to the receiver (all but its target)"] = request.without_target.decode()
    events = {r.json().get("event") or r.json()["text"][:30] for r in receiver.received}
    assert {"rotation_succeeded", "rotation_failed", "emergency", "overdue"} <= events, events
    assert len(receiver.to(SLACK_PATH)) >= 4 and len(receiver.to(VAULT_PATH)) >= 4
    assert len(issued) >= 8  # control-panel secrets, the rotations' and the emergency's

    planted = {
        **{f"secret #{i} the sandbox minted": secret for i, secret in enumerate(issued)},
        "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
        "VAULT_TOKEN (policy-only)": managed.env["VAULT_TOKEN"],
        "the generic webhook URL's token": GENERIC_TOKEN,
        "the Slack webhook URL's token": SLACK_TOKEN,
        "the Vault-kept webhook URL's token": VAULT_TOKEN_IN_URL,
    }
    leaks = [
        f"{what} in {where}"
        for what, value in planted.items()
        for where, text in outputs.items()
        if value in text
    ]
    assert leaks == []
