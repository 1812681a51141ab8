"""The planted-secret proof on the real engine. Every secret minted for the stack (the ones the
control panel showed, every version Vault got) and every credential is searched for in everything
the engine leaves: its stdout/stderr at `--debug` and `-v=9 --logtostderr --logflow`, every file of
the state backend (checkpoints, history, backups), and `pulumi stack export`, with and without
`--show-secrets`. The engine runs with a Vault token that holds only the shipped policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest

from sandbox import store
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.pulumi_cli.engine import PASSPHRASE, PulumiProject
from tests.pulumi_cli.stackkit import DUAL, IN_PLACE, make_in_panel

VERBOSE = ("--debug", "-v=9", "--logtostderr", "--logflow")


def every_secret(vault: hvac.Client, prefix: str, paths: list[str]) -> set[str]:
    """Every secret each path ever held (all versions), read with the root token."""
    found = set()
    for path in paths:
        full = f"{prefix}/{path}"
        current = vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"][
            "current_version"
        ]
        for version in range(1, current + 1):
            reply = vault.secrets.kv.v2.read_secret_version(
                full, version=version, mount_point="secret", raise_on_deleted_version=False
            )
            if reply["data"]["data"]:
                found.add(str(reply["data"]["data"]["api_key"]))
    return found


def plaintext(value: object) -> str:
    """A secret as `stack export --show-secrets` shows it: {signature, plaintext: JSON}."""
    if isinstance(value, dict):
        return str(json.loads(value["plaintext"]))
    return str(value)


def state_files(project: PulumiProject) -> dict[str, str]:
    backend = Path(project.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    return {
        str(path.relative_to(backend)): path.read_bytes().decode("utf-8", "replace")
        for path in backend.rglob("*")
        if path.is_file()
    }


def test_no_secret_or_token_in_anything_the_engine_leaves(
    make_project: Callable[..., PulumiProject],
    emulator: Emulator,
    root_vault: hvac.Client,
    prefix: str,
    policy_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issued: list[str] = []  # every secret the sandbox mints, kept by the test alone

    def recording_new_secret() -> str:
        issued.append(minted := original())
        return minted

    original = store.new_secret
    monkeypatch.setattr(store, "new_secret", recording_new_secret)
    shown = make_in_panel(emulator, [DUAL, IN_PLACE])
    project = make_project(vault_token=policy_token)
    project.configure([DUAL, IN_PLACE], prefix)
    project.preview(*VERBOSE)
    project.up(*VERBOSE)
    project.configure(
        [{**DUAL, "rotation_token": "leak-test"}, {**IN_PLACE, "rotation_token": "leak-test"}], prefix
    )
    project.preview(*VERBOSE)
    project.up(*VERBOSE)
    project.refresh(*VERBOSE)

    exported = project.run("stack", "export").stdout
    revealed = project.run("stack", "export", "--show-secrets").stdout
    resources = [
        r for r in json.loads(revealed)["deployment"]["resources"] if r["type"].endswith("ModelAccessKey")
    ]
    provider_sizes = {r["outputs"]["name"]: len(plaintext(r["outputs"]["__provider"])) for r in resources}
    print(f"__provider per resource: {provider_sizes} characters")
    assert all(size < 1024 for size in provider_sizes.values()), provider_sizes  # a reference, no clients
    files_before_destroy = state_files(project)
    minted = every_secret(root_vault, prefix, [DUAL["vault_path"], IN_PLACE["vault_path"]])
    project.destroy(*VERBOSE)

    assert len(minted) == 4  # two adoptions, two rotations
    planted = {
        **{f"control-panel secret of {name}": secret for name, secret in shown.items()},
        **{f"secret #{i} minted into Vault": secret for i, secret in enumerate(sorted(minted))},
        "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
        "VAULT_TOKEN (policy-only)": policy_token,
        "the state passphrase": PASSPHRASE,
    }
    outputs = {
        **{f"pulumi {' '.join(run.args)} (stdout+stderr)": run.output for run in project.runs},
        **{f"state file {name}": text for name, text in files_before_destroy.items()},
        **{f"state file {name} (after destroy)": text for name, text in state_files(project).items()},
        "pulumi stack export": exported,
        "pulumi stack export --show-secrets": revealed,
    }
    verbose_bytes = sum(len(run.output) for run in project.runs if "-v=9" in run.args)
    assert verbose_bytes > 100_000, "the engine's debug logs were not captured"  # the search means something
    leaks = [
        f"{what} in {where}"
        for what, value in planted.items()
        for where, text in outputs.items()
        if value in text
    ]
    assert leaks == []
