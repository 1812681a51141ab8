"""The CI recipes in docs/ci are linted and their command lines are the command's own: actionlint
(with shellcheck) passes on the GitHub workflows and fails on a broken copy, every `gradient-keys`
command line in the recipes and their README parses with the real argument parser, and the GitLab
file has the structure GitLab requires. (Running them: tests/pulumi_cli/test_ci_recipes.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.cli import _parser
from tests.ci_recipes import (
    CI_DIR,
    GITHUB_DIR,
    GITLAB_GLOBAL_KEYS,
    GITLAB_JOB_KEYS,
    GITLAB_RULE_KEYS,
    REPO,
    VAULT_ROLES_DIR,
    GitHubStep,
    command_lines,
    evaluate,
    expand_variables,
    github_action,
    github_jobs,
    github_steps,
    github_triggers,
    github_workflows,
    gitlab_document,
    gitlab_jobs,
    interpolate,
    load_yaml,
)

VENV_BIN = REPO / ".venv" / "bin"
ACTIONLINT_VERSION = "v1.7.12"  # scripts/tools builds this one
MISSING = "{tool} is not installed here: scripts/setup builds or installs it (scripts/tools)"
README = (CI_DIR / "README.md").read_text()


def find_tool(name: str) -> Path:
    """A tool scripts/tools links into .venv/bin (else one on PATH); missing: skip, in CI fail."""
    linked = VENV_BIN / name
    found = linked if linked.exists() else (Path(p) if (p := shutil.which(name)) else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must lint the CI recipes: {MISSING.format(tool=name)}")
        pytest.skip(MISSING.format(tool=name))
    return found


@pytest.fixture(scope="module")
def actionlint() -> Path:
    return find_tool("actionlint")


@pytest.fixture(scope="module")
def shellcheck() -> Path:
    return find_tool("shellcheck")


def lint(actionlint: Path, shellcheck: Path, repo: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on docs/ci/github laid out as a repository's .github (local actions and
    actionlint.yaml are found as they would be there), with shellcheck on PATH."""
    return subprocess.run(
        [str(actionlint), "-no-color"],
        cwd=repo,
        env={"PATH": os.pathsep.join([str(shellcheck.parent), "/usr/bin", "/bin"]), "HOME": str(repo)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(GITHUB_DIR, tmp_path / ".github")
    return tmp_path


def test_actionlint_is_the_pinned_build(actionlint: Path) -> None:
    version = subprocess.run(
        [str(actionlint), "-version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert version.stdout.splitlines()[0] == ACTIONLINT_VERSION, version.stdout


def test_actionlint_passes_on_the_workflows(actionlint: Path, shellcheck: Path, repo: Path) -> None:
    result = lint(actionlint, shellcheck, repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((repo / ".github" / "workflows").glob("*.yml"))) == 4


# Each a deliberate error in a copy: (file under .github, text, replacement, what actionlint says).
MUTATIONS = {
    "undefined step output": (
        "workflows/preview.yml",
        "          DIGITALOCEAN_TOKEN: ${{ secrets.DIGITALOCEAN_READ_TOKEN }}\n",
        "          DIGITALOCEAN_TOKEN: ${{ secrets.DIGITALOCEAN_READ_TOKEN }}\n"
        "          PLAN: ${{ steps.nope.outputs.x }}\n",
        'property "nope" is not defined',
    ),
    "unknown runner label": (
        "workflows/up.yml",
        "runs-on: ubuntu-24.04",
        "runs-on: ubuntu-24.4",
        "ubuntu-24.4",
    ),
    "misspelt repository variable": (
        "workflows/audit.yml",
        "${{ vars.VAULT_ADDR }}",
        "${{ vars.VAULT_ADR }}",
        'undefined configuration variable "vault_adr"',
    ),
    "unknown input of the local action": (
        "workflows/rotate.yml",
        "vault-role: gradient-keys-prod",
        "vault-rol: gradient-keys-prod",
        'input "vault-rol" is not defined',
    ),
    "unquoted variable in a script (shellcheck)": (
        "workflows/rotate.yml",
        '| tee "$RUNNER_TEMP/rotate.json"',
        "| tee $RUNNER_TEMP/rotate.json",
        "SC2086",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_actionlint_fails_on_a_broken_copy(
    actionlint: Path, shellcheck: Path, repo: Path, mutation: str
) -> None:
    """The lint is live: each deliberate error in a copy makes it fail, naming the error."""
    name, text, replacement, said = MUTATIONS[mutation]
    path = repo / ".github" / name
    original = path.read_text()
    assert text in original, f"the mutation no longer applies to {name}"
    path.write_text(original.replace(text, replacement, 1))
    result = lint(actionlint, shellcheck, repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stdout, result.stdout


# -- the steps' scripts -------------------------------------------------------------------------
def all_github_steps() -> Iterator[GitHubStep]:
    for workflow in github_workflows():
        for job_id in github_jobs(workflow):
            yield from github_steps(workflow, job_id)


def test_scripts_take_values_through_env_only() -> None:
    """No `${{ }}` inside a script (script injection); values come through `env:`."""
    for step in all_github_steps():
        if step.run is not None:
            assert "${{" not in step.run, f"{step}: an expression inside a script"


def test_published_actions_are_pinned_by_commit() -> None:
    """`owner/name@<40 hex> # vX.Y.Z`, the same commit for the same action everywhere."""
    pins: dict[str, set[str]] = {}
    for path in [*github_workflows(), github_action("./.github/actions/gradient-keys")]:
        for match in re.finditer(r"uses:\s*(\S+)(.*)$", path.read_text(), re.M):
            uses, comment = match.group(1), match.group(2)
            if uses.startswith("./"):
                continue
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", uses), (
                f"{path.name}: {uses} is not pinned by commit"
            )
            assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), (
                f"{path.name}: {uses} has no version comment"
            )
            pins.setdefault(uses.split("@")[0], set()).add(uses + comment)
    assert all(len(p) == 1 for p in pins.values()), pins


def test_composite_action_scripts_pass_shellcheck(shellcheck: Path) -> None:
    """actionlint checks the workflows' scripts; the composite action's are checked here."""
    action = load_yaml(github_action("./.github/actions/gradient-keys"))
    scripts = [str(s["run"]) for s in action["runs"]["steps"] if "run" in s]
    assert scripts and all(s.get("shell") == "bash" for s in action["runs"]["steps"] if "run" in s)
    for script in scripts:
        check_shell(shellcheck, script)


def check_shell(shellcheck: Path, script: str) -> None:
    result = subprocess.run(
        [str(shellcheck), "--shell=bash", "--severity=info", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{script}\n{result.stdout}{result.stderr}"


# -- the command lines are the command's own ---------------------------------------------------
def github_event_env(
    step: GitHubStep, workflow: dict[str, Any], job: dict[str, Any], event: str
) -> dict[str, str]:
    """The values `env:` gives a step's script on an event (secrets and variables as placeholders)."""
    context = {
        "github": {"event_name": event},
        "runner": {"temp": "/runner/temp"},
        "secrets": _Anything(),
        "vars": _Anything(),
        "inputs": _Anything(),
    }

    def lookup(name: str) -> object:
        value: object = context
        for part in name.split("."):
            if isinstance(value, _Anything):
                value = value[part]
            else:
                value = value.get(part) if isinstance(value, dict) else None
        return value

    env: dict[str, str] = {}
    for source in (workflow, job, step.raw):
        for name, value in (source.get("env") or {}).items():
            env[str(name)] = interpolate(str(value), lookup)
    return env


class _Anything(dict[str, Any]):
    """A context whose every name has a placeholder value."""

    def __getitem__(self, key: str) -> str:
        return f"<{key}>"


def github_command_lines() -> Iterator[tuple[str, list[str]]]:
    """(where, words) of each command line in the workflows and the action they use, once per event
    the workflow runs on, the `$VARIABLES` its `env:` sets replaced by their values on that event."""
    for workflow_path in github_workflows():
        workflow = load_yaml(workflow_path)
        for job_id, job in github_jobs(workflow_path).items():
            for step in github_steps(workflow_path, job_id):
                for event in github_triggers(workflow) if step.run else ():
                    env = github_event_env(step, workflow, job, event)
                    for words in command_lines(str(step.run)):
                        yield (
                            f"{step} ({event})",
                            [expand_variables(w, env) if "$" in w else w for w in words],
                        )


def gitlab_command_lines() -> Iterator[tuple[str, list[str]]]:
    """The same for the GitLab jobs, once per rule, with the variables the file and the rule set."""
    document = gitlab_document()
    for job in gitlab_jobs(document):
        for rule in job.spec.get("rules") or [{}]:
            values: dict[str, str] = {}
            for layer in (document.get("variables"), job.spec.get("variables"), rule.get("variables")):
                values |= {str(k): str(v) for k, v in (layer or {}).items()}
            for line in job.lines:
                for words in command_lines(line):
                    yield f".gitlab-ci.yml {job.name}", [expand_variables(w, values) for w in words]


def recipe_command_lines() -> Iterator[tuple[str, list[str]]]:
    """Every command line of the recipes and of the shell blocks in their README."""
    yield from github_command_lines()
    yield from gitlab_command_lines()
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for words in command_lines(block):
            yield "docs/ci/README.md", words


def test_every_gradient_keys_command_line_parses() -> None:
    """Each `gradient-keys ...` in the recipes and their README, parsed by the real parser: a
    renamed or removed option breaks this test, not a pipeline."""
    parser = _parser()
    seen = set()
    for where, words in recipe_command_lines():
        if words[0] != "gradient-keys":
            continue
        try:
            args = parser.parse_args(words[1:])
        except SystemExit as exc:
            pytest.fail(f"{where}: `{' '.join(words)}` is refused by gradient-keys' parser ({exc})")
        seen.add((args.command, getattr(args, "format", None)))
    assert {("rotate", "json"), ("audit", "markdown")} <= seen, seen
    assert ("audit", "markdown") in seen


def test_pulumi_command_lines_are_for_the_stack_without_prompts() -> None:
    found = [(where, words) for where, words in recipe_command_lines() if words[0] == "pulumi"]
    assert {w[1] for _, w in found} == {"preview", "up"}, found
    for where, words in found:
        assert words[2:4] == ["--stack", "prod"] and "--non-interactive" in words, f"{where}: {words}"
        assert ("--yes" in words) == (words[1] == "up"), f"{where}: {words}"


# -- secrets, variables, roles: what the README promises ---------------------------------------
def test_the_readme_names_every_secret_variable_and_role() -> None:
    text = "".join(p.read_text() for p in github_workflows())
    for kind in ("secrets", "vars"):
        for name in set(re.findall(rf"\b{kind}\.(\w+)", text)):
            assert f"| `{name}` |" in README, f"docs/ci/README.md does not list the {kind} {name}"
    for step in all_github_steps():
        if step.uses and step.uses.startswith("./"):
            role = step.raw["with"]["vault-role"]
            assert f"vault write auth/jwt/role/{role} @docs/ci/vault/github-" in README, role
    for job in gitlab_jobs():
        role = job.spec["variables"]["VAULT_JWT_ROLE"]
        assert f"vault write auth/jwt/role/{role} @docs/ci/vault/gitlab-" in README, role
    audit_job = github_jobs(GITHUB_DIR / "workflows" / "audit.yml")["audit"]["name"]
    assert f"**`{audit_job}`**" in README, "the required check's name in the README is not the job's"


def test_vault_role_files_match_the_tokens_the_recipes_ask_for() -> None:
    audience = load_yaml(github_action("./.github/actions/gradient-keys"))["inputs"]["vault-audience"][
        "default"
    ]
    gitlab_audiences = {j.spec["id_tokens"]["VAULT_ID_TOKEN"]["aud"] for j in gitlab_jobs()}
    assert gitlab_audiences == {audience}
    policies = set(re.findall(r"\| vault policy write (\S+) -$", README, re.M))
    files = sorted(VAULT_ROLES_DIR.glob("*.json"))
    assert [f.name for f in files] == [
        "github-prod-read.json",
        "github-prod.json",
        "gitlab-prod-read.json",
        "gitlab-prod.json",
    ]
    for path in files:
        role = json.loads(path.read_text())
        assert role["role_type"] == "jwt" and role["bound_audiences"] == [audience], path.name
        assert role["bound_claims"] and role["token_no_default_policy"] is True, path.name
        assert set(role["token_policies"]) <= policies, path.name
        writer = not path.stem.endswith("-read")
        assert role["token_policies"] == (["gradient-keys-prod"] if writer else ["gradient-keys-prod-audit"])


# -- GitLab: no offline linter, so the structure GitLab requires -------------------------------
def test_gitlab_file_structure() -> None:
    document = gitlab_document()
    stages = document["stages"]
    assert isinstance(stages, list) and stages
    for key in document:
        assert key in GITLAB_GLOBAL_KEYS or str(key).startswith(".") or isinstance(document[key], dict), key
    jobs = gitlab_jobs(document)
    names = {j.name for j in jobs}
    assert names == {"preview", "up", "rotate", "audit"}
    for rule in document["workflow"]["rules"]:
        assert set(rule) <= GITLAB_RULE_KEYS
        evaluate(rule["if"], lambda _name: None)  # an expression GitLab's syntax allows
    for job in jobs:
        spec = job.spec
        assert set(spec) <= GITLAB_JOB_KEYS, f"{job.name}: unknown keys {set(spec) - GITLAB_JOB_KEYS}"
        assert spec["stage"] in stages, job.name
        assert spec["script"] and all(isinstance(line, str) for line in job.lines), job.name
        for rule in spec.get("rules") or []:
            assert set(rule) <= GITLAB_RULE_KEYS, f"{job.name}: {rule}"
            assert rule.get("when", "on_success") in {"on_success", "always", "never", "manual", "delayed"}
            if "if" in rule:
                evaluate(rule["if"], lambda _name: None)
        tokens = spec["id_tokens"]
        assert isinstance(tokens, dict) and tokens, job.name
        for token in tokens.values():
            assert set(token) == {"aud"} and isinstance(token["aud"], str | list), job.name
        for need in spec.get("needs") or []:
            assert (need["job"] if isinstance(need, dict) else need) in names, job.name
        for path in (spec.get("artifacts") or {}).get("paths") or []:
            assert not path.startswith("/"), f"{job.name}: artifacts are paths in the project"
        writer = spec["variables"]["VAULT_JWT_ROLE"] == "gradient-keys-prod"
        assert (spec.get("resource_group") == "gradient-keys-prod") == writer, job.name
        assert (spec.get("environment") == "prod") == writer, job.name


def test_gitlab_scripts_pass_shellcheck(shellcheck: Path) -> None:
    for job in gitlab_jobs():
        check_shell(shellcheck, "#!/usr/bin/env bash\nset -eo pipefail\n" + "\n".join(job.lines) + "\n")


def test_gitlab_jobs_match_the_github_workflows() -> None:
    """The same command lines on both: GitLab's file is the GitHub recipes' equivalent."""

    def ours(lines: Iterator[tuple[str, list[str]]]) -> set[str]:
        return {" ".join(words) for _where, words in lines if words[0] in ("gradient-keys", "pulumi")}

    github, gitlab = ours(github_command_lines()), ours(gitlab_command_lines())
    assert github == gitlab, (github, gitlab)
    assert len(github) == 5  # preview, up, rotate, audit failing on critical, audit failing on high
