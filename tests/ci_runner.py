"""Run the CI recipes of docs/ci here, as GitHub's runner and GitLab's runner would: every `run:`
script (and each `script:` line) exactly as the file says, with the environment CI provides
emulated, against the sandbox, a real OpenBao and the real `pulumi` engine.

What is emulated, and how:
- the runner's environment: `CI`, `GITHUB_*`/`RUNNER_TEMP` or `CI_*` variables; the files
  `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`, read back after each step
  as the runner does; `bash --noprofile --norc -eo pipefail` for `shell: bash` (`bash -eo pipefail`
  for GitLab); expressions in `env:`, `with:` and `if:` (tests/ci_recipes.py evaluates them);
- the OIDC token: GitHub's token request endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`, given only to
  jobs with `permissions: id-token: write`) and GitLab's `id_tokens` are served by an `OidcIssuer`
  made here, which signs tokens carrying the claims the real issuers put in them; Vault's JWT auth
  trusts its public key instead of fetching the real issuer's keys (no network here);
- secrets and variables: given by the test, looked up strictly (a name the recipe uses that the
  test does not give is an error, as a missing required secret would be).

What is not run, and why (each substitution is recorded in `JobRun.substituted`):
- steps that `uses:` a published action (checkout, setup-python, setup-go, cache,
  upload-artifact): the test's project copy is the checkout, and Python, the .venv and the engine
  are what this test session's own `scripts/setup` made;
- the script lines in `SETUP_LINES` (`./scripts/setup runtime`, and GitLab's apt-get of Python):
  the same setup, already done; running it again would reinstall the shared .venv from a copy.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.ci_recipes import (
    ExpressionError,
    GitHubStep,
    GitLabJob,
    evaluate,
    expand_variables,
    github_action,
    github_jobs,
    github_steps,
    github_triggers,
    gitlab_document,
    gitlab_jobs,
    interpolate,
    load_yaml,
)

__all__ = [
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "PUBLISHED_ACTIONS",
    "SETUP_LINES",
    "GitHubRunner",
    "GitLabRunner",
    "JobRun",
    "OidcIssuer",
    "StepRun",
]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
# Published actions a recipe may use; none runs here (see the module's docstring).
PUBLISHED_ACTIONS = (
    "actions/checkout",
    "actions/setup-python",
    "actions/setup-go",
    "actions/cache",
    "actions/upload-artifact",
)
# Setup lines not run here: this session's scripts/setup already did what they do.
SETUP_LINES = (
    "./scripts/setup runtime",
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null",
)
STEP_TIMEOUT = 600.0


class OidcIssuer:
    """A CI system's OIDC issuer: signs ID tokens with a key made here (ES256)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.issued: list[dict[str, Any]] = []

    @property
    def public_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, claims: Mapping[str, Any]) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "nbf": now, "exp": now + 300, **claims}
        self.issued.append(body)
        return jwt.encode(body, self._key, algorithm="ES256")


@contextmanager
def token_endpoint(issuer: OidcIssuer, claims: Callable[[], Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """GitHub's ID token request endpoint on loopback: `GET URL&audience=AUD` with the request token
    as a bearer answers `{"value": JWT}`. Yields (ACTIONS_ID_TOKEN_REQUEST_URL, ..._TOKEN)."""
    request_token = secrets.token_urlsafe(16)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization", "").lower() != f"bearer {request_token}".lower():
                self.send_error(401)
                return
            audience = parse_qs(urlparse(self.path).query).get("audience", [""])[0]
            body = json.dumps({"value": issuer.sign({**claims(), "aud": audience})}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0", request_token
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class StepRun:
    step: str
    outcome: str  # success | failure | skipped | substituted
    script: str = ""
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.step}: {self.outcome} (exit {self.returncode}, {self.seconds:.1f}s)\n"
            f"$ {self.script}\n{self.stdout}\n{self.stderr}"
        )


@dataclass
class JobRun:
    job: str
    steps: list[StepRun] = field(default_factory=list)
    summary: str = ""  # GITHUB_STEP_SUMMARY, every step's
    substituted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.outcome != "failure" for s in self.steps)

    def step(self, name: str) -> StepRun:
        found = [s for s in self.steps if s.step.endswith(f": {name}")]
        assert len(found) == 1, f"no single step {name!r} in {[s.step for s in self.steps]}"
        return found[0]

    def __str__(self) -> str:
        return f"job {self.job}: {'ok' if self.ok else 'failed'}\n" + "\n".join(map(str, self.steps))


def _without_setup(script: str, substituted: list[str], where: str) -> str:
    kept = []
    for line in script.splitlines():
        if line.strip() in SETUP_LINES:
            substituted.append(f"{where}: {line.strip()}")
        else:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _bash(
    command: list[str], script: str, cwd: Path, env: Mapping[str, str], scratch: Path, name: str
) -> StepRun:
    """One script through bash, as the runner runs it (the script in a file, its path last)."""
    started = time.monotonic()
    file = scratch / f"script-{time.monotonic_ns()}.sh"
    file.write_text(script)
    done = subprocess.run(
        [*command, str(file)],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    outcome = "success" if done.returncode == 0 else "failure"
    seconds = time.monotonic() - started
    return StepRun(name, outcome, script.strip(), done.returncode, done.stdout, done.stderr, seconds)


def _read_env_file(path: Path) -> dict[str, str]:
    """GITHUB_ENV / GITHUB_OUTPUT: NAME=value lines and NAME<<DELIMITER blocks."""
    values: dict[str, str] = {}
    lines = path.read_text().splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, at)
            values[name] = "\n".join(lines[at:end])
            at = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def _truthy(value: object) -> bool:
    return value not in (None, False, 0, "")


def _lookup(context: Mapping[str, Any]) -> Callable[[str], object]:
    """Names in GitHub expressions; `secrets.` and `vars.` strictly (see the module's docstring)."""

    def lookup(name: str) -> object:
        head, *rest = name.split(".")
        if head not in context:
            raise ExpressionError(f"the context {head!r} is not emulated here (in {name})")
        value: object = context[head]
        for part in rest:
            if not isinstance(value, Mapping):
                return None
            if head in ("secrets", "vars") and part not in value:
                raise ExpressionError(f"{name} is used by the recipe but the test gives no such value")
            value = value.get(part)
        return value

    return lookup


@dataclass
class _Job:
    """One GitHub job while it runs: its contexts, environment, PATH additions and summaries."""

    context: dict[str, Any]
    env: dict[str, str]
    scratch: Path
    shell: str | None
    result: JobRun
    path: list[str] = field(default_factory=list)
    failed: bool = False
    files: int = 0

    @property
    def functions(self) -> dict[str, Callable[..., object]]:
        return {
            "success": lambda: not self.failed,
            "failure": lambda: self.failed,
            "always": lambda: True,
            "cancelled": lambda: False,
        }

    def evaluate(self, expression: str, inputs: Mapping[str, str]) -> object:
        return evaluate(expression, _lookup({**self.context, "inputs": inputs}), self.functions)

    def interpolate(self, text: object, inputs: Mapping[str, str]) -> str:
        return interpolate(str(text), _lookup({**self.context, "inputs": inputs}), self.functions)

    def step(self, step: GitHubStep, workspace: Path) -> StepRun:
        condition = str(step.raw.get("if", "success()")).strip()
        condition = condition.removeprefix("${{").removesuffix("}}")
        if not _truthy(self.evaluate(condition, step.inputs)):
            return StepRun(str(step), "skipped")
        if step.uses and step.uses.startswith("./"):  # a local composite action: its steps follow
            given = {
                str(k): self.interpolate(v, step.inputs) for k, v in (step.raw.get("with") or {}).items()
            }
            declared = load_yaml(github_action(step.uses)).get("inputs") or {}
            step.inputs.clear()
            step.inputs.update({k: str(v["default"]) for k, v in declared.items() if "default" in v} | given)
            return StepRun(str(step), "success")
        if step.uses:
            assert step.uses.split("@")[0] in PUBLISHED_ACTIONS, f"{step}: an action the test does not know"
            self.result.substituted.append(f"{step}: uses {step.uses}")
            return StepRun(str(step), "substituted")
        assert step.run is not None, f"{step}: neither uses nor run"
        env = {**self.env}
        for name, value in (step.raw.get("env") or {}).items():
            env[name] = self.interpolate(value, step.inputs)
        script = _without_setup(step.run, self.result.substituted, str(step))
        shell = str(step.raw.get("shell") or self.shell or "")
        return self.execute(
            script, shell, workspace / str(step.raw.get("working-directory", ".")), env, str(step)
        )

    def execute(self, script: str, shell: str, cwd: Path, env: dict[str, str], name: str) -> StepRun:
        self.files += 1
        files = {k: self.scratch / f"{k.lower()}-{self.files}" for k in FILE_COMMANDS}
        for path in files.values():
            path.touch()
        run_env = {**env, **{k: str(v) for k, v in files.items()}}
        run_env["PATH"] = os.pathsep.join([*reversed(self.path), env["PATH"]])
        if shell == "bash":
            command = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
        else:
            assert shell == "", f"{name}: shell {shell!r} is not emulated"
            command = ["bash", "-e"]
        outcome = _bash(command, script, cwd, run_env, self.scratch, name)
        self.env.update(_read_env_file(files["GITHUB_ENV"]))
        self.path += [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
        outcome.outputs = _read_env_file(files["GITHUB_OUTPUT"])
        self.result.summary += files["GITHUB_STEP_SUMMARY"].read_text()
        return outcome


FILE_COMMANDS = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


@dataclass
class GitHubRunner:
    """Runs a workflow's jobs for one event, step by step, as the runner does."""

    workspace: Path
    scratch: Path
    base_env: dict[str, str]  # the runner machine's own environment
    secrets: dict[str, str]
    variables: dict[str, str]  # repository variables (`vars.`)
    issuer: OidcIssuer
    repository: str = "acme/infra"

    def run(self, workflow: Path, event: str, ref: str = "refs/heads/main") -> list[JobRun]:
        document = load_yaml(workflow)
        assert event in github_triggers(document), f"{workflow.name} does not run on {event}"
        return [self._job(workflow, document, job_id, event, ref) for job_id in github_jobs(workflow)]

    def claims(self, job: Mapping[str, Any], event: str, ref: str) -> dict[str, Any]:
        """What GitHub's ID token says about a job (the claims Vault roles bind)."""
        environment = job.get("environment")
        if environment:
            sub = f"repo:{self.repository}:environment:{environment}"
        elif event == "pull_request":
            sub = f"repo:{self.repository}:pull_request"
        else:
            sub = f"repo:{self.repository}:ref:{ref}"
        claims = {"sub": sub, "repository": self.repository, "ref": ref, "event_name": event}
        return claims | ({"environment": environment} if environment else {})

    def _job(self, workflow: Path, document: Mapping[str, Any], job_id: str, event: str, ref: str) -> JobRun:
        spec = github_jobs(workflow)[job_id]
        scratch = self.scratch / f"{workflow.stem}-{job_id}-{time.monotonic_ns()}"
        (scratch / "temp").mkdir(parents=True)
        context: dict[str, Any] = {
            "github": {"event_name": event, "ref": ref, "repository": self.repository},
            "runner": {"temp": str(scratch / "temp"), "os": "Linux", "arch": "X64"},
            "secrets": self.secrets,
            "vars": self.variables,
            "steps": {},
        }
        context["github"]["workspace"] = str(self.workspace)
        env = {
            **self.base_env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_REF": ref,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(scratch / "temp"),
        }
        shell = ((document.get("defaults") or {}).get("run") or {}).get("shell")
        job = _Job(context, env, scratch, shell, JobRun(f"{workflow.name} {job_id}"))
        for source in (document, spec):
            for name, value in (source.get("env") or {}).items():
                job.env[name] = job.interpolate(value, {})
        permissions = {**(document.get("permissions") or {}), **(spec.get("permissions") or {})}
        claims = self.claims(spec, event, ref)
        with token_endpoint(self.issuer, lambda: claims) as (token_url, token):
            if permissions.get("id-token") == "write":  # as GitHub does: only then a token to ask for
                job.env |= {
                    "ACTIONS_ID_TOKEN_REQUEST_URL": token_url,
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": token,
                }
            for step in github_steps(workflow, job_id):
                outcome = job.step(step, self.workspace)
                job.result.steps.append(outcome)
                job.failed = job.failed or outcome.outcome == "failure"
                if step.raw.get("id"):
                    status = "success" if outcome.outcome == "substituted" else outcome.outcome
                    context["steps"][step.raw["id"]] = {"outcome": status, "outputs": outcome.outputs}
        return job.result


# -- GitLab CI -----------------------------------------------------------------------------------
@dataclass
class GitLabRunner:
    """Runs the jobs a pipeline would run for one source, in stage order, as GitLab's runner does."""

    project_dir: Path
    scratch: Path
    base_env: dict[str, str]
    project_variables: dict[str, str]  # Settings > CI/CD > Variables
    environment_variables: dict[str, dict[str, str]]  # variables scoped to an environment
    issuer: OidcIssuer
    project_path: str = "acme/infra"
    default_branch: str = "main"

    def predefined(self, source: str, branch: str) -> dict[str, str]:
        values = {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_PIPELINE_SOURCE": source,
            "CI_DEFAULT_BRANCH": self.default_branch,
            "CI_PROJECT_DIR": str(self.project_dir),
            "CI_PROJECT_PATH": self.project_path,
        }
        if source == "merge_request_event":
            values["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = branch
        else:
            values["CI_COMMIT_BRANCH"] = branch
        return values

    def jobs_for(
        self, source: str, branch: str, extra: Mapping[str, str] | None = None
    ) -> list[tuple[GitLabJob, dict[str, str]]]:
        """The jobs the pipeline holds, with the variables their matching rule sets, in stage order."""
        document = gitlab_document()
        values = {**self.predefined(source, branch), **(extra or {})}
        workflow_rules = (document.get("workflow") or {}).get("rules") or []
        if workflow_rules and _first_rule(workflow_rules, values) is None:
            return []
        stages = document["stages"]
        chosen = []
        for job in gitlab_jobs(document):
            rule = _first_rule(job.spec.get("rules") or [{"when": "on_success"}], values)
            if rule is not None and rule.get("when", "on_success") != "never":
                chosen.append((job, {k: str(v) for k, v in (rule.get("variables") or {}).items()}))
        return sorted(chosen, key=lambda pair: stages.index(pair[0].spec["stage"]))

    def run(self, source: str, branch: str, extra: Mapping[str, str] | None = None) -> list[JobRun]:
        runs = []
        for job, rule_variables in self.jobs_for(source, branch, extra):
            runs.append(self._job(job, rule_variables, source, branch, extra or {}))
        return runs

    def _job(
        self,
        job: GitLabJob,
        rule_variables: dict[str, str],
        source: str,
        branch: str,
        extra: Mapping[str, str],
    ) -> JobRun:
        result = JobRun(job.name)
        document = gitlab_document()
        environment = job.spec.get("environment")
        environment_name = environment if isinstance(environment, str) else (environment or {}).get("name")
        # Precedence, lowest first: predefined, the file's global and job variables, the rule's,
        # then the project's settings (and those scoped to the job's environment).
        values = {**self.predefined(source, branch), **extra}
        for layer in (document.get("variables") or {}, job.spec.get("variables") or {}, rule_variables):
            for name, value in layer.items():
                values[name] = expand_variables(str(value), {**self.project_variables, **values})
        values |= self.project_variables | self.environment_variables.get(str(environment_name), {})
        protected = branch == self.default_branch and source != "merge_request_event"
        claims = {
            "sub": f"project_path:{self.project_path}:ref_type:branch:ref:{branch}",
            "project_path": self.project_path,
            "ref": branch,
            "ref_type": "branch",
            "ref_protected": str(protected).lower(),
            "pipeline_source": source,
            **({"environment": environment_name} if environment_name else {}),
        }
        for name, spec in (job.spec.get("id_tokens") or {}).items():
            values[name] = self.issuer.sign({**claims, "aud": spec["aud"]})
        script = _without_setup("\n".join(job.lines), result.substituted, job.name)
        env = {**self.base_env, **values}
        scratch = self.scratch / f"{job.name}-{time.monotonic_ns()}"
        scratch.mkdir(parents=True)
        # GitLab's runner runs a job's lines in one bash with `set -eo pipefail`.
        command = ["bash", "-eo", "pipefail"]
        result.steps.append(_bash(command, script, self.project_dir, env, scratch, f"{job.name}: script"))
        return result


def _first_rule(rules: list[Mapping[str, Any]], values: Mapping[str, str]) -> Mapping[str, Any] | None:
    def lookup(name: str) -> object:
        return values.get(name.removeprefix("$"))

    for rule in rules:
        if "if" not in rule or _truthy(evaluate(str(rule["if"]), lookup)):
            return rule
    return None
