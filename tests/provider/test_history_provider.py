"""What the provider records in each version it writes, driven over gRPC as the engine drives it,
and read back with `gradient-keys history`: the provider as the writer, its process's run id (one
per `pulumi up`), the CI job it runs in, and why: adoption, a new rotation_token, age, an
emergency the command left unfinished, a secret missing from Vault."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import load_stack_file, parse_settings
from components.keys import KeyContext
from components.provider import inputs_for
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.conftest import vault_client
from tests.integration.rotation_env import REPO, Managed, environment
from tests.provider.harness import ProviderProcess, from_struct, with_provider

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


def github(run: str) -> dict[str, str]:
    return {
        **NO_CI,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": run,
        "GITHUB_ACTOR": "deploy-bot",
    }


class Stack:
    """One declared key, as provider inputs and as the stack file the command reads."""

    def __init__(self, directory: Path, prefix: str, env: dict[str, str]) -> None:
        self.file = directory / "Pulumi.test.yaml"
        self.prefix, self.env = prefix, {**env, **NO_CI}
        self.declare()

    def declare(self, **more: str) -> dict[str, Any]:
        key = {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d", **more}
        config = {"gradient-keys:vault": {"path_prefix": self.prefix}, "gradient-keys:keys": [key]}
        self.file.write_text(yaml.safe_dump({"config": config}))
        settings = parse_settings({"keys": [key], "vault": {"path_prefix": self.prefix}}, "test")
        context = KeyContext("test", settings.vault, settings.digitalocean)
        return with_provider(inputs_for(settings.keys[0], context))

    def history(self) -> dict[int, dict[str, Any]]:
        result = subprocess.run(
            [sys.executable, "-m", "components.cli", "history", "chatbot", "--config", str(self.file),
             "--format", "json"],
            cwd=REPO, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return {v["version"]: v for v in json.loads(result.stdout)["versions"]}

    def command(self) -> Managed:
        """The `gradient-keys rotate` side, on the same stack file and environment."""
        settings = load_stack_file(self.file)
        specs = {s.name: s for s in settings.keys}
        return Managed(self.file.parent, self.file, dict(self.env), specs, {}, self.prefix)


@pytest.fixture
def stack(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Stack:
    prefix = f"gradient-keys/hist-prov-{uuid.uuid4().hex[:8]}"
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    return Stack(tmp_path, prefix, environment(emulator, openbao, tmp_path, prefix))


@pytest.fixture
def provider_in_ci(stack: Stack) -> Iterator[ProviderProcess]:
    process = ProviderProcess({**stack.env, **github("700")})
    yield process
    process.close()


def update(provider: ProviderProcess, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    checked = from_struct(provider.check("chatbot", olds, news).inputs)
    assert checked["pending_rotation"], "the check should have found a rotation due"
    return from_struct(provider.update("chatbot", olds["slot_a_uuid"], olds, checked).properties)


def age(openbao: OpenBaoServer, stack: Stack) -> None:
    vault = vault_client(openbao)
    full = f"{stack.prefix}/apps/chatbot"
    custom = vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]["custom_metadata"]
    vault.secrets.kv.v2.update_metadata(
        full, mount_point="secret", custom_metadata={**custom, "rotated_at": "2026-01-01T00:00:00Z"}
    )


def test_the_provider_records_itself_its_run_the_ci_job_and_why(
    stack: Stack, provider_in_ci: ProviderProcess, emulator: Emulator, openbao: OpenBaoServer
) -> None:
    checked = from_struct(provider_in_ci.check("chatbot", {}, stack.declare()).inputs)
    outs = from_struct(provider_in_ci.create("chatbot", checked).properties)
    again = from_struct(provider_in_ci.create("chatbot", checked).properties)  # state lost: adopted again
    assert again["vault_version"] == 1.0  # Vault already held it all: no version says it twice
    outs = update(provider_in_ci, outs, stack.declare(rotation_token="t1"))

    # The command's emergency stops after its first slot (slot a's regenerate refused) ...
    emulator.inject(operation="regenerate", kind="error", status=400, after=1)
    command = stack.command()
    command.env.update(github("800"))
    code, document, _err = command.rotate("chatbot", "--emergency")
    assert code == 1 and document["keys"][0]["status"] == "failed"
    # ... and the next `pulumi up` (another provider process, outside CI) finishes it, then, later,
    # rotates by age.
    outside = ProviderProcess(stack.env)
    try:
        outs = update(outside, outs, stack.declare(rotation_token="t1"))
        age(openbao, stack)
        update(outside, outs, stack.declare(rotation_token="t1"))
    finally:
        outside.close()

    seen = stack.history()
    first_run, second_run = seen[1]["run_id"], seen[4]["run_id"]
    assert re.fullmatch(r"[0-9a-f]{12}", first_run) and re.fullmatch(r"[0-9a-f]{12}", second_run)
    assert first_run != second_run  # one run id per provider process: per `pulumi up`
    job = "https://github.com/acme/infra/actions/runs/{}"
    who_why = {
        v: (e["actor"], e["reason"], e["run_id"], e["ci_job"], e["active_slot"]) for v, e in seen.items()
    }
    assert who_why == {
        5: ("pulumi", "age", second_run, None, "a"),
        4: ("pulumi", "emergency-finish", second_run, None, "b"),
        3: ("gradient-keys rotate", "emergency", document["run_id"], job.format(800), "b"),
        2: ("pulumi", "token", first_run, job.format(700), "b"),
        1: ("pulumi", "adoption", first_run, job.format(700), "a"),
    }
    # Nothing of the command's run survives in the versions the provider wrote after it.
    assert seen[4]["ci_user"] is None and seen[3]["ci_user"] == "deploy-bot"
    assert seen[3]["pending_slots"] == "a" and seen[4]["pending_slots"] is None
    assert seen[4]["note"] == "emergency finished: slot a regenerated"


def test_a_secret_deleted_from_vault_is_restored_and_recorded_as_such(
    stack: Stack, provider_in_ci: ProviderProcess, openbao: OpenBaoServer
) -> None:
    checked = from_struct(provider_in_ci.check("chatbot", {}, stack.declare()).inputs)
    outs = from_struct(provider_in_ci.create("chatbot", checked).properties)
    vault = vault_client(openbao)
    vault.secrets.kv.v2.delete_secret_versions(f"{stack.prefix}/apps/chatbot", [1], mount_point="secret")
    update(provider_in_ci, outs, stack.declare())
    seen = stack.history()
    assert (seen[2]["reason"], seen[2]["actor"], seen[2]["current"]) == ("restore", "pulumi", True)
    assert seen[1]["state"] == "deleted" and seen[1]["reason"] is None
