"""The CI recipes in docs/ci, read as GitHub Actions and GitLab CI read them.

`docs/ci/github/` mirrors a repository's `.github/` (workflows, the shared composite action,
actionlint's config); `docs/ci/gitlab/.gitlab-ci.yml` is a whole pipeline. This module loads them,
evaluates the little expression language both use (GitHub's `${{ }}` and `if:`, GitLab's `rules:if`),
lists each step's or job's shell script, and finds the command lines in a script, so that the tests
can lint, parse and run exactly what the files say.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

__all__ = [
    "CI_DIR",
    "GITHUB_DIR",
    "GITLAB_FILE",
    "REPO",
    "VAULT_ROLES_DIR",
    "ExpressionError",
    "GitHubStep",
    "GitLabJob",
    "command_lines",
    "evaluate",
    "expand_variables",
    "github_action",
    "github_jobs",
    "github_triggers",
    "github_workflows",
    "gitlab_document",
    "gitlab_jobs",
    "interpolate",
    "load_yaml",
]

REPO = Path(__file__).resolve().parents[1]
CI_DIR = REPO / "docs" / "ci"
GITHUB_DIR = CI_DIR / "github"
GITLAB_FILE = CI_DIR / "gitlab" / ".gitlab-ci.yml"
VAULT_ROLES_DIR = CI_DIR / "vault"


def load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict), f"{path}: not a YAML mapping"
    return cast(dict[str, Any], loaded)


# -- expressions ---------------------------------------------------------------------------------
class ExpressionError(ValueError):
    """An expression this evaluator does not understand: keep the recipes to what it reads."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
     |(?P<op>&&|\|\||==|!=|!|\(|\)|,)
     |(?P<var>\$[A-Za-z_]\w*)
     |(?P<num>\d+(?:\.\d+)?)
     |(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_*][\w-]*)*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    at = 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            raise ExpressionError(f"cannot read {text[at:]!r} in {text!r}")
        found.append((match.lastgroup, match.group(match.lastgroup)))
        at = match.end()
    return found


_CONSTANTS: dict[str, object] = {"true": True, "false": False, "null": None}


def _truthy(value: object) -> bool:
    return value not in (None, False, 0, "")


@dataclass
class _Parser:
    """Recursive descent over `||`, `&&`, `==`/`!=`, `!`, literals, names and calls: the part of
    GitHub's expression syntax and of GitLab's `rules:if` that the recipes use."""

    tokens: list[tuple[str, str]]
    lookup: Callable[[str], object]
    functions: Mapping[str, Callable[..., object]]
    at: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ExpressionError("the expression ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def parse(self) -> object:
        value = self.either()
        if self.at != len(self.tokens):
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return value

    def either(self) -> object:
        value = self.both()
        while self.peek() == "||":
            self.take()
            right = self.both()
            value = value if _truthy(value) else right
        return value

    def both(self) -> object:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if _truthy(value) else value
        return value

    def compare(self) -> object:
        value = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            return (value == right) == (op == "==")
        return value

    def unary(self) -> object:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> object:
        kind, text = self.take()
        if text == "(":
            value = self.either()
            if self.take()[1] != ")":
                raise ExpressionError("a ( is not closed")
            return value
        if kind == "name" and self.peek() == "(":
            return self.call(text)
        literal: dict[str, Callable[[str], object]] = {
            "str": lambda t: t[1:-1].replace("''", "'") if t[0] == "'" else t[1:-1],
            "num": float,
            "var": self.lookup,
            "name": lambda t: _CONSTANTS[t] if t in _CONSTANTS else self.lookup(t),
        }
        if kind not in literal:
            raise ExpressionError(f"unexpected {text!r}")
        return literal[kind](text)

    def call(self, name: str) -> object:
        self.take()
        args: list[object] = []
        while self.peek() != ")":
            args.append(self.either())
            if self.peek() == ",":
                self.take()
        self.take()
        if name not in self.functions:
            raise ExpressionError(f"function {name}() is not supported here")
        return self.functions[name](*args)


def evaluate(
    text: str, lookup: Callable[[str], object], functions: Mapping[str, Callable[..., object]] | None = None
) -> object:
    """The value of one expression; names and `$VARIABLES` resolved by `lookup`."""
    return _Parser(_tokens(text), lookup, functions or {}).parse()


_INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def interpolate(
    text: str, lookup: Callable[[str], object], functions: Mapping[str, Callable[..., object]] | None = None
) -> str:
    """A GitHub string with its `${{ }}` parts evaluated."""

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), lookup, functions)
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    return _INTERPOLATION.sub(one, text)


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_variables(text: str, values: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced by their values (unknown ones by nothing), as a shell or
    GitLab's variable expansion does."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


# -- command lines in a script -------------------------------------------------------------------
_SEPARATORS = {"|", "||", "&&", ";", "&", "{", "}", "(", ")", "!"}
_REDIRECTS = {">", ">>", "<", "&>", ">|"}


def command_lines(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell script as its words (quotes removed, variables left as
    written), without redirections: `a --x 2>&1 | tee f` gives ["a", "--x"] and ["tee"]."""
    text = script.replace("\\\n", " ")
    for line in text.splitlines():
        lexer = shlex.shlex(re.sub(r"\s\d*>&\d+", " ", line), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        skip = False
        for token in lexer:
            if skip:
                skip = False
            elif token in _REDIRECTS:
                skip = True
            elif token in _SEPARATORS:
                if words:
                    yield words
                words = []
            else:
                words.append(token)
        if words:
            yield words


# -- GitHub Actions ------------------------------------------------------------------------------
def github_workflows() -> list[Path]:
    return sorted((GITHUB_DIR / "workflows").glob("*.yml"))


def github_triggers(workflow: Mapping[Any, Any]) -> dict[str, Any]:
    """The `on:` block (PyYAML reads the bare key `on` as the boolean True)."""
    triggers = workflow.get("on", workflow.get(True))
    if isinstance(triggers, str):
        return {triggers: None}
    if isinstance(triggers, list):
        return dict.fromkeys(triggers)
    assert isinstance(triggers, dict), "a workflow without triggers"
    return cast(dict[str, Any], triggers)


def github_action(uses: str) -> Path:
    """The action.yml of a local action, `./.github/actions/NAME` (docs/ci/github stands for .github)."""
    assert uses.startswith("./.github/"), uses
    return GITHUB_DIR / uses.removeprefix("./.github/") / "action.yml"


@dataclass
class GitHubStep:
    """One step as written, and where: a workflow's job, or a composite action it uses."""

    where: str
    raw: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)  # `with:` given to the enclosing local action
    in_action: bool = False

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or self.raw.get("uses") or self.raw.get("run", "")[:40])

    @property
    def run(self) -> str | None:
        run = self.raw.get("run")
        return None if run is None else str(run)

    @property
    def uses(self) -> str | None:
        uses = self.raw.get("uses")
        return None if uses is None else str(uses)

    def __str__(self) -> str:
        return f"{self.where}: {self.name}"


def github_jobs(path: Path) -> dict[str, dict[str, Any]]:
    jobs = load_yaml(path)["jobs"]
    assert isinstance(jobs, dict)
    return cast(dict[str, dict[str, Any]], jobs)


def github_steps(path: Path, job_id: str) -> Iterator[GitHubStep]:
    """A job's steps, the steps of the local composite actions it uses listed in their place (each
    after the `uses:` step itself, which carries the inputs)."""
    for raw in github_jobs(path)[job_id]["steps"]:
        step = GitHubStep(f"{path.name} {job_id}", raw)
        yield step
        if step.uses and step.uses.startswith("./"):
            action_path = github_action(step.uses)
            action = load_yaml(action_path)
            for inner in action["runs"]["steps"]:
                # One inputs mapping for the action's steps, filled when its `uses:` step runs.
                where = f"{action_path.parent.name}/action.yml (from {path.name} {job_id})"
                yield GitHubStep(where, inner, inputs=step.inputs, in_action=True)


# -- GitLab CI -----------------------------------------------------------------------------------
GITLAB_GLOBAL_KEYS = {"workflow", "stages", "variables", "default", "include", "image", "services", "cache"}
GITLAB_JOB_KEYS = {
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "environment",
    "extends",
    "id_tokens",
    "image",
    "interruptible",
    "needs",
    "resource_group",
    "retry",
    "rules",
    "script",
    "stage",
    "tags",
    "timeout",
    "variables",
}
GITLAB_RULE_KEYS = {"if", "when", "variables", "changes", "exists", "allow_failure", "needs"}


def gitlab_document() -> dict[str, Any]:
    return load_yaml(GITLAB_FILE)


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _resolved(document: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A job with its `extends` applied as GitLab does (hashes merged deeply, the job's own last)."""
    assert name not in seen, f"extends loops: {' -> '.join((*seen, name))}"
    job = document[name]
    assert isinstance(job, dict), f"{name}: not a mapping"
    parents = job.get("extends") or []
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        assert parent in document, f"{name} extends {parent}, which is not defined"
        merged = _deep_merge(merged, _resolved(document, parent, (*seen, name)))
    merged = _deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return merged


@dataclass
class GitLabJob:
    name: str
    spec: dict[str, Any]  # extends resolved

    @property
    def lines(self) -> list[str]:
        return [str(line) for line in [*(self.spec.get("before_script") or []), *self.spec["script"]]]


def gitlab_jobs(document: Mapping[str, Any] | None = None) -> list[GitLabJob]:
    document = document if document is not None else gitlab_document()
    names = [n for n in document if n not in GITLAB_GLOBAL_KEYS and not str(n).startswith(".")]
    return [GitLabJob(str(n), _resolved(document, str(n))) for n in names]
