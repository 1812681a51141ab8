"""The CI recipes in docs/ci run: each workflow's steps and each GitLab job's script, the command
lines exactly as the files hold them, against the sandbox, a real OpenBao (logged in through its JWT
auth with the roles in docs/ci/vault) and the real `pulumi` engine with a file backend.

What stands in for GitHub and GitLab (the OIDC issuer, published actions, the setup line) is listed
in tests/ci_runner.py and docs/ci/README.md, "How they are tested"; the tests below check that
exactly those were substituted and nothing else.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest

from sandbox.openbao import OpenBaoServer
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.ci_recipes import CI_DIR, GITHUB_DIR, REPO
from tests.ci_runner import (
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GitHubRunner,
    GitLabRunner,
    JobRun,
    OidcIssuer,
)
from tests.conftest import READ_ONLY_TOKEN
from tests.pulumi_cli.conftest import service_env
from tests.pulumi_cli.engine import PASSPHRASE, VENV_BIN, PulumiProject
from tests.pulumi_cli.stackkit import DUAL, IN_PLACE, accepted, make_in_panel, requests_made, vault_secret

KEYS = [DUAL, IN_PLACE]
WORKFLOWS = GITHUB_DIR / "workflows"
# What the workflows set themselves (from secrets, variables or the Vault login step; the Vault
# namespace, from the stack file: see configure()): the runner's own environment must not hold
# them, or a step that forgot one would pass here.
SUPPLIED_BY_THE_RECIPES = (
    "DIGITALOCEAN_TOKEN",
    "VAULT_TOKEN",
    "VAULT_ADDR",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
    "VAULT_NAMESPACE",
)
SETUP_ACTIONS = ("actions/checkout", "actions/setup-python", "actions/setup-go", "actions/cache")


def require_tools() -> None:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"the recipes' Vault login step needs {tool}, which GitHub's runners have")


@pytest.fixture
def checkout(
    pulumi_bin: Path, emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path, prefix: str
) -> PulumiProject:
    """The repository as CI checks it out: the project with a `prod` stack declaring two keys."""
    require_tools()
    project = PulumiProject.create(
        tmp_path / "checkout", pulumi_bin, service_env(emulator, openbao), stack="prod"
    )
    configure(project, KEYS, prefix, openbao)
    return project


def configure(
    project: PulumiProject, keys: list[dict[str, Any]], prefix: str, openbao: OpenBaoServer
) -> None:
    """The stack config, naming Vault's namespace when there is one: the recipes pass the jobs
    VAULT_ADDR only, so the stack file is where a team in a namespace says which."""
    vault = {"path_prefix": prefix, **({"namespace": openbao.namespace} if openbao.namespace else {})}
    project.configure(keys, prefix, vault=vault)


def readme_setup(system: str) -> tuple[list[tuple[list[str], str]], list[tuple[str, Path]]]:
    """The Vault setup docs/ci/README.md gives: (gradient-keys command, policy name) pairs and the
    (role name, role file) pairs of one CI system."""
    text = (CI_DIR / "README.md").read_text()
    policies = [
        (shlex.split(m.group(1)), m.group(2))
        for m in re.finditer(
            r"^(gradient-keys vault policy [^|\n]+)\| vault policy write (\S+) -$", text, re.M
        )
    ]
    roles = [
        (m.group(1), REPO / m.group(2))
        for m in re.finditer(r"^vault write auth/jwt/role/(\S+) @(docs/ci/vault/(\S+)\.json)$", text, re.M)
        if m.group(3).startswith(f"{system}-")
    ]
    assert policies and roles, "docs/ci/README.md lost its Vault setup commands"
    return policies, roles


def vault_jwt_auth(root_vault: hvac.Client, project: PulumiProject, issuer: OidcIssuer, system: str) -> str:
    """A JWT auth mount trusting `issuer`, with the README's policies (printed by the commands it
    gives, run in the checkout) and its role files as they are. Returns the mount."""
    mount = f"jwt-{uuid.uuid4().hex[:8]}"
    root_vault.sys.enable_auth_method("jwt", path=mount)
    root_vault.auth.jwt.configure(
        jwt_validation_pubkeys=[issuer.public_pem], bound_issuer=issuer.issuer, path=mount
    )
    policies, roles = readme_setup(system)
    names = {}
    for argv, name in policies:
        printed = subprocess.run(
            [str(VENV_BIN / argv[0]), *argv[1:]],
            cwd=project.root,
            env=project.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        names[name] = f"{name}-{mount}"  # policies are global to the server: one set per test
        root_vault.sys.create_or_update_policy(names[name], printed)
    for role_name, role_file in roles:
        role: dict[str, Any] = json.loads(role_file.read_text())
        role["token_policies"] = [names[p] for p in role["token_policies"]]
        root_vault.adapter.post(f"/v1/auth/{mount}/role/{role_name}", json=role)
    return mount


def runner_env(project: PulumiProject, pulumi_bin: Path, mount: str) -> dict[str, str]:
    """The runner machine's environment: no credential, the engine found as setup left it, the
    sandbox's DigitalOcean API, and the test's JWT mount."""
    env = {k: v for k, v in project.env.items() if k not in SUPPLIED_BY_THE_RECIPES}
    own_pulumi = [] if pulumi_bin.parent == VENV_BIN else [str(pulumi_bin.parent)]
    env["PATH"] = ":".join([*own_pulumi, "/usr/local/bin", "/usr/bin", "/bin"])
    env["VAULT_JWT_MOUNT"] = mount
    return env


def assert_clean(runs: list[JobRun], *secrets: str) -> None:
    """No token, passphrase or key secret in any log or summary."""
    for run in runs:
        text = run.summary + "".join(s.stdout + s.stderr for s in run.steps)
        for secret in secrets:
            assert secret not in text, f"{run.job} shows a credential"
        assert "sk-do-" not in text, f"{run.job} shows a key secret"


def test_github_workflows_run(
    checkout: PulumiProject,
    pulumi_bin: Path,
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    prefix: str,
    tmp_path: Path,
) -> None:
    issuer = OidcIssuer(GITHUB_ISSUER)
    mount = vault_jwt_auth(root_vault, checkout, issuer, "github")
    runner = GitHubRunner(
        workspace=checkout.root,
        scratch=tmp_path / "runner",
        base_env=runner_env(checkout, pulumi_bin, mount),
        secrets={
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
            "DIGITALOCEAN_READ_TOKEN": READ_ONLY_TOKEN,
        },
        variables={"PULUMI_BACKEND_URL": checkout.env["PULUMI_BACKEND_URL"], "VAULT_ADDR": openbao.address},
        issuer=issuer,
    )
    make_in_panel(emulator, KEYS)
    runs: list[JobRun] = []

    def run(workflow: str, event: str, ref: str = "refs/heads/main") -> JobRun:
        (job,) = runner.run(WORKFLOWS / workflow, event, ref)
        runs.append(job)
        assert job.ok, job
        return job

    # A pull request: the plan as the job summary, read-only (nothing regenerated) ...
    preview = run("preview.yml", "pull_request", "refs/pull/7/merge")
    assert "### pulumi preview --stack prod" in preview.summary, preview.summary
    assert preview.summary.count("regenerate once") == 2, preview.summary
    assert "adopt" in preview.summary, preview.summary
    assert requests_made(emulator, "regenerate") == 0
    # ... and the audit, which reports the undeployed keys but fails a pull request only on critical.
    audit_pr = run("audit.yml", "pull_request", "refs/pull/7/merge")
    assert_markdown(audit_pr.summary)

    # The merge: up adopts the keys; each secret Vault holds works.
    up = run("up.yml", "push")
    assert "### pulumi up --stack prod" in up.summary and "created" in up.summary, up.summary
    for key in KEYS:
        secret, _version = vault_secret(root_vault, prefix, key["vault_path"])
        assert accepted(emulator, secret)
    audit_after = run("audit.yml", "workflow_run")  # high findings fail here: there are none
    assert_markdown(audit_after.summary)

    # A new rotation_token, merged; the scheduled rotate rotates that key and nothing else.
    configure(checkout, [{**DUAL, "rotation_token": "ci-2026-11-26"}, IN_PLACE], prefix, openbao)
    before = vault_secret(root_vault, prefix, DUAL["vault_path"])
    rotate = run("rotate.yml", "schedule")
    document = json.loads(rotate.step("Rotate the keys that are due").stdout)
    assert document["summary"]["rotated"] == 1, document
    assert {k["key"]: k["status"] for k in document["keys"]} == {"chatbot": "rotated", "batch": "not-due"}
    assert json.loads(rotate.summary.split("```json\n", 1)[1].split("```", 1)[0]) == document
    after = vault_secret(root_vault, prefix, DUAL["vault_path"])
    assert after[1] == before[1] + 1 and accepted(emulator, after[0])

    # Each job logged in to Vault with its own OIDC token, as the role for its job.
    assert [t["sub"] for t in issuer.issued] == [
        "repo:acme/infra:pull_request",
        "repo:acme/infra:pull_request",
        "repo:acme/infra:environment:prod",
        "repo:acme/infra:ref:refs/heads/main",
        "repo:acme/infra:environment:prod",
    ]
    assert {t["aud"] for t in issuer.issued} == {"gradient-keys"}
    assert_clean(runs, DEFAULT_TOKEN, READ_ONLY_TOKEN, PASSPHRASE, openbao.root_token)
    # Only the setup was substituted: published actions and the setup line (tests/ci_runner.py).
    for job in runs:
        used = sorted(s.rsplit(": uses ", 1)[1].split("@")[0] for s in job.substituted if ": uses " in s)
        extra = ["actions/upload-artifact"] if job is rotate else []
        assert used == sorted([*SETUP_ACTIONS, *extra]), job.substituted
        assert [s.rsplit(": ", 1)[1] for s in job.substituted if ": uses " not in s] == [
            "./scripts/setup runtime"
        ]


def assert_markdown(report: str) -> None:
    """A Markdown report: a heading and a table."""
    assert re.search(r"^#{1,4} ", report, re.M), report
    assert re.search(r"^\|.*\|$", report, re.M) and re.search(r"^\|[ :|-]+\|$", report, re.M), report


def test_gitlab_pipeline_runs(
    checkout: PulumiProject,
    pulumi_bin: Path,
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    prefix: str,
    tmp_path: Path,
) -> None:
    issuer = OidcIssuer(GITLAB_ISSUER)
    mount = vault_jwt_auth(root_vault, checkout, issuer, "gitlab")
    runner = GitLabRunner(
        project_dir=checkout.root,
        scratch=tmp_path / "runner",
        base_env=runner_env(checkout, pulumi_bin, mount),
        project_variables={
            "PULUMI_BACKEND_URL": checkout.env["PULUMI_BACKEND_URL"],
            "VAULT_ADDR": openbao.address,
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "DIGITALOCEAN_READ_TOKEN": READ_ONLY_TOKEN,
        },
        environment_variables={"prod": {"DIGITALOCEAN_TOKEN": DEFAULT_TOKEN}},
        issuer=issuer,
    )
    make_in_panel(emulator, KEYS)
    runs: list[JobRun] = []

    def pipeline(source: str, branch: str, expected: list[str], **variables: str) -> dict[str, JobRun]:
        jobs = runner.run(source, branch, variables)
        assert [j.job for j in jobs] == expected
        for job in jobs:
            assert job.ok, job
            assert sorted(s.split(": ", 1)[1] for s in job.substituted) == sorted(SETUP_SUBSTITUTED), job
        runs.extend(jobs)
        return {j.job: j for j in jobs}

    def artifact(name: str) -> str:
        return (checkout.root / name).read_text()

    pipeline("merge_request_event", "add-keys", ["preview", "audit"])
    assert artifact("preview.txt").count("regenerate once") == 2, artifact("preview.txt")
    assert requests_made(emulator, "regenerate") == 0
    assert_markdown(artifact("audit.md"))  # undeployed keys: high findings, not failing a merge request

    pipeline("push", "main", ["up", "audit"])
    for key in KEYS:
        assert accepted(emulator, vault_secret(root_vault, prefix, key["vault_path"])[0])
    assert_markdown(artifact("audit.md"))

    # Any other schedule audits only; the rotate schedule sets GRADIENT_KEYS_JOB=rotate.
    assert [job.name for job, _rule in runner.jobs_for("schedule", "main")] == ["audit"]
    configure(checkout, [{**DUAL, "rotation_token": "ci-2026-11-26"}, IN_PLACE], prefix, openbao)
    pipeline("schedule", "main", ["rotate", "audit"], GRADIENT_KEYS_JOB="rotate")
    document = json.loads(artifact("rotate.json"))
    assert document["summary"]["rotated"] == 1, document

    assert [(t.get("environment"), t["ref_protected"]) for t in issuer.issued] == [
        (None, "false"),
        (None, "false"),
        ("prod", "true"),
        (None, "true"),
        ("prod", "true"),
        (None, "true"),
    ]
    assert_clean(runs, DEFAULT_TOKEN, READ_ONLY_TOKEN, PASSPHRASE, openbao.root_token)


SETUP_SUBSTITUTED = (
    "./scripts/setup runtime",
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null",
)
