"""Whatever its arguments, `gradient-keys` exits with a documented code (docs/exit-codes.md; an
argparse usage error is SystemExit(2)), prints no traceback, and changes nothing at DigitalOcean
or in Vault.

The argument lists are built from the parser's real verbs and options (`rotate`, `audit`, `keys
list`, `vault policy`, `vault check`, `sandbox status`, `sandbox console list|create`). Two
properties: well-formed lists (real option values, right or wrong for the stack: most reach the
sandbox), and wild ones that add wrong values, `--opt=value` forms, unknown flags, empty strings,
control characters, very long strings, shuffled in, and sometimes a damaged verb. They run in this
process against a real sandbox and a real OpenBao (policy-only token) seeded with managed keys, a
stray key and a stray Vault entry, so `rotate`, `audit`, `keys list` and `vault check` do real work.

Nothing may change in any run, whatever its exit code: every `rotate` that runs is a dry run (the
generator puts `--dry-run` right after the verb, where no `--` can turn it into a key name) and
the other verbs only read. An argument list that would parse to `rotate` without `--dry-run`, to
`sandbox up|serve|down` (which start or stop processes), or to a `sandbox console create` against
a running sandbox is skipped, never run (`unsafe`). The sandbox verbs find no sandbox running
(`GRADIENT_KEYS_SANDBOX_DIR` and the working directory are a fresh temporary directory).

The three bugs these properties found (a stack path the OS cannot stat, an unusable sandbox
directory, an option given as `--OPT=--`) are fixed; the properties at the end, once their strict
xfails, stay as regression properties, each generating the one region of input that showed its bug.
The general properties skip only unsafe argument lists.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from components import cli
from components.audit import SEVERITIES
from components.vault_sink import DELETE_MODES
from sandbox import launcher
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.property.test_stack_files import CONTROLS, EXIT_CODES, World, open_world, run, wipe

WELL_FORMED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WILD = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    # One sandbox and one OpenBao serve every example; each example compares before with after.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REGRESSIONS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

PREFIX = "gradient-keys/property-cli"
# In the working directory: `--stack prop` loads (chatbot is due: its rotation_token is new),
# `--stack broken` does not; `adir` is a directory and `afile` a file that is no stack.
STACKS = {
    "prop": (
        "config:\n"
        f"  gradient-keys:vault: {{path_prefix: {PREFIX}}}\n"
        "  gradient-keys:keys:\n"
        "    - {name: chatbot, vault_path: apps/chatbot, rotate_every: 7d, rotation_token: t1}\n"
        "    - {name: search, vault_path: apps/search, strategy: in-place}\n"
    ),
    "broken": "config: [1, 2]\n",
}


@pytest.fixture
def world(
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    opened = open_world(emulator, openbao, root_vault, tmp_path, monkeypatch, PREFIX)
    # A Pulumi project: `--stack NAME` finds stacks/ through its Pulumi.yaml, as `pulumi` does.
    (tmp_path / "Pulumi.yaml").write_text("name: prop\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    for name, text in STACKS.items():
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(text)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("not a stack\n")
    yield opened
    wipe(root_vault, PREFIX)


# -- argument lists ------------------------------------------------------------------------------------
long_strings = st.builds(
    lambda text, times: (text or "x") * times, st.text(max_size=3), st.integers(100, 3000)
)
tokens = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from([*CONTROLS, *"ab-=/ "]), max_size=8),
    st.just(""),
    st.sampled_from(
        [
            "-",
            "--",
            "-x",
            "--unknown",
            "--stack=",
            "--config=",
            "--format=yaml",
            "-vv",
            "--due=1",
            "--dry-run=yes",
            "-h",
            "--help",
            "--dir",
            "--mount",
            "--prefix",
            "--fail-on",
            "--on-delete",
            "--verify",
            "--emerg",
            "-v",
            "rotate",
            "audit",
            "keys",
            "list",
            "vault",
            "check",
            "policy",
            "sandbox",
            "console",
            "status",
            "create",
            "@args",
            "%s%n",
            "${HOME}",
            "*",
        ]
    ),
    long_strings,
)


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.just([name])


def option(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(values.map(lambda value: [name, value]), values.map(lambda value: [f"{name}={value}"]))


def positional(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda value: [value])


class Verb:
    """A verb's words, what a sensible caller nearly always adds, and its other options."""

    def __init__(
        self,
        words: list[str],
        usual: list[st.SearchStrategy[list[str]]],
        options: list[st.SearchStrategy[list[str]]],
    ) -> None:
        self.words, self.usual, self.options = words, usual, options


def verbs(wild: bool) -> dict[str, Verb]:
    """The parser's verbs and options; their values real ones, or (wild) any token as well."""

    def values(*good: str) -> st.SearchStrategy[str]:
        real = st.sampled_from(good)
        return st.one_of(real, tokens) if wild else real

    stacks = values("prop", "prop", "prop", "broken", "missing", "../prop")
    configs = values(
        *["stacks/Pulumi.prop.yaml"] * 3, "stacks/Pulumi.broken.yaml", "adir", "afile", "nothing", ""
    )
    formats = values("table", "json")
    mounts = values("secret", "secret", "kv", "../x", "secret/")
    prefixes = values(PREFIX, PREFIX, "gradient-keys", f"{PREFIX}/sub", "a//b")
    paths = values("apps/chatbot", "apps/x", "_gradient-keys/x", "/abs", "a/../b")
    directories = values("no-sandbox", "adir", "afile", ".gradient-keys-sandbox")
    which_stack = st.one_of(option("--stack", stacks), option("--config", configs))
    which_keys = st.one_of(flag("--due"), flag("--all"), positional(values("chatbot", "search", "ghost")))
    return {
        "rotate": Verb(
            ["rotate", "--dry-run"],
            [which_stack, which_keys],
            [which_keys, which_stack, flag("--emergency"), flag("--fresh"), option("--format", formats)],
        ),
        "audit": Verb(
            ["audit"],
            [which_stack],
            [
                which_stack,
                option("--format", formats),
                option("--fail-on", values(*SEVERITIES)),
                flag("--verify-secrets"),
            ],
        ),
        "keys list": Verb(["keys", "list"], [], [option("--format", formats)]),
        "vault policy": Verb(
            ["vault", "policy"],
            [],
            [
                option("--mount", mounts),
                option("--prefix", prefixes),
                flag("--audit-only"),
                flag("--verify-secrets"),
            ],
        ),
        "vault check": Verb(
            ["vault", "check"],
            [positional(paths), option("--prefix", prefixes)],
            [
                positional(paths),
                option("--mount", mounts),
                option("--prefix", prefixes),
                option("--on-delete", values(*DELETE_MODES)),
            ],
        ),
        "sandbox status": Verb(["sandbox", "status"], [], [option("--dir", directories)]),
        "sandbox console list": Verb(["sandbox", "console", "list"], [], [option("--dir", directories)]),
        "sandbox console create": Verb(
            ["sandbox", "console", "create"],
            [positional(values("chatbot-slot-a", "new-key"))],
            [flag("--show-secret"), option("--dir", directories)],
        ),
    }


@st.composite
def argvs(draw: st.DrawFn, wild: bool) -> list[str]:
    """A verb, its usual options (when wild, mostly), some others; when wild, tokens for values,
    and random tokens anywhere after the verb, a damaged verb or a token before it."""
    table = verbs(wild)
    verb = table[draw(st.sampled_from(["rotate", "audit", *sorted(table)]))]
    words = list(verb.words)
    pieces = [draw(usual) for usual in verb.usual if not wild or draw(st.integers(0, 3)) > 0]
    pieces += draw(st.lists(st.one_of(*verb.options), max_size=3))
    tail = [token for piece in draw(st.permutations(pieces)) for token in piece]
    if not wild:
        return [*words, *tail]
    for token in draw(st.lists(tokens, max_size=draw(st.sampled_from([0, 1, 3])))):
        tail.insert(draw(st.integers(0, len(tail))), token)
    damage = draw(st.sampled_from(["none", "none", "verb", "cut", "lead"]))
    if damage == "verb":  # a word of the verb replaced, or the verb cut short
        words[draw(st.integers(0, len(words) - 1))] = draw(tokens)
    elif damage == "cut":
        words = words[: draw(st.integers(0, len(words) - 1))]
    lead = [draw(st.sampled_from(["-v", "--verbose", "-h"]) | tokens)] if damage == "lead" else []
    return [*lead, *words, *tail]


def parsed(argv: list[str]) -> Any:
    """The parser's reading of `argv` (None when it exits), with its messages thrown away."""
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        try:
            return cli._parser().parse_args(argv)  # the real parser, to classify
        except SystemExit:
            return None


def unsafe(args: Any) -> bool:
    """Whether running these arguments could change something, or start or stop a process."""
    if args is None:
        return False
    if args.command == "rotate":
        return not args.dry_run
    if args.command == "sandbox":
        if args.sandbox_command in ("up", "serve", "down"):
            return True
        if args.sandbox_command == "console" and args.console_command == "create":
            with contextlib.suppress(OSError, ValueError):
                return launcher.running(sandbox_dir(args).resolve()) is not None
    return False


def sandbox_dir(args: Any) -> Path:
    return Path(args.dir if args.dir is not None else os.environ["GRADIENT_KEYS_SANDBOX_DIR"])


# -- the properties ---------------------------------------------------------------------------------------
def check(world: World, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Run `argv` unless it is unsafe: a documented exit code, no traceback, and DigitalOcean and
    Vault exactly as they were."""
    args = parsed(argv)
    assume(not unsafe(args))
    before = world.snapshot()
    code, out, err = run(argv, capsys)
    event(f"{args.command if args else 'usage error'}: exit {code}")
    assert code in EXIT_CODES, (code, err)
    assert "Traceback" not in out + err, err
    assert world.snapshot() == before, f"exit {code}: {err}"


@WELL_FORMED
@given(argv=argvs(wild=False))
@example(argv=["rotate", "--dry-run", "--due", "--stack", "prop"])
@example(argv=["rotate", "--dry-run", "--all", "--stack", "prop", "--format", "json"])
@example(argv=["rotate", "--dry-run", "--emergency", "chatbot", "search", "--stack", "prop"])
@example(argv=["audit", "--stack", "prop", "--verify-secrets"])
@example(argv=["keys", "list", "--format", "json"])
@example(argv=["vault", "check", "apps/chatbot", "--prefix", PREFIX, "--on-delete", "destroy"])
@example(argv=["vault", "policy", "--audit-only", "--verify-secrets"])
@example(argv=["sandbox", "console", "list"])
def test_well_formed_arguments_exit_documented_without_traceback_and_change_nothing(
    world: World, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    check(world, capsys, argv)


@WILD
@given(argv=argvs(wild=True))
@example(argv=[])
@example(argv=["--help"])
@example(argv=["rotate", "--dry-run", "--", "--all", "--stack", "prop"])
@example(argv=["audit", "--stack", "prop", "--fail-on", "--verify-secrets"])
def test_any_arguments_exit_documented_without_traceback_and_change_nothing(
    world: World, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    check(world, capsys, argv)


def test_the_snapshot_sees_a_rotation(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The property's "nothing changed" has teeth: a real rotation shows in both snapshots."""
    (keys_before, vault_before) = world.snapshot()
    code, _out, err = run(["rotate", "chatbot", "--stack", "prop"], capsys)
    assert code == 0, err
    keys_after, vault_after = world.snapshot()
    assert keys_after != keys_before
    assert vault_after != vault_before


# -- regressions: each property generates the one region of input where a bug was ----------------------
unreadable_paths = st.one_of(
    st.tuples(st.text("ab", max_size=3), st.text("yz", max_size=3)).map(
        lambda pair: f"{pair[0]}\x00{pair[1]}"
    ),
    st.integers(256, 2000).map(lambda n: "p" * n),
    st.sampled_from(["afile/Pulumi.x.yaml", "stacks/Pulumi.prop.yaml/x"]),
)


@REGRESSIONS
@given(
    verb=st.sampled_from([["audit"], ["rotate", "--dry-run", "--due"]]),
    flag_name=st.sampled_from(["--config", "--stack"]),
    path=unreadable_paths,
)
def test_an_unreadable_stack_path_is_a_usage_error(
    world: World, capsys: pytest.CaptureFixture[str], verb: list[str], flag_name: str, path: str
) -> None:
    """Was a bug: `--config`/`--stack` naming a path the OS cannot stat for a reason other than
    ENOENT/EACCES (a NUL byte: ValueError; a name over 255 bytes: OSError ENAMETOOLONG; a file used
    as a directory: NotADirectoryError) escaped config._read_document and main() as a traceback."""
    code, out, err = run([*verb, flag_name, path], capsys)
    assert code == 2, err
    assert "Traceback" not in out + err


@REGRESSIONS
@given(
    verb=st.sampled_from(
        [["sandbox", "status"], ["sandbox", "console", "list"], ["sandbox", "console", "create", "k"]]
    ),
    directory=st.one_of(
        st.text("ab", max_size=3).map(lambda text: f"{text}\x00d"),
        st.integers(256, 2000).map(lambda n: "d" * n),
    ),
)
def test_an_unusable_sandbox_dir_exits_documented(
    world: World, capsys: pytest.CaptureFixture[str], verb: list[str], directory: str
) -> None:
    """Was a bug: `sandbox console list|create --dir` with a NUL byte (ValueError from Path.resolve
    in launcher.console) and `sandbox status|console --dir` with a name over 255 bytes (OSError
    ENAMETOOLONG from Path.exists in launcher.running) escaped main() as a traceback."""
    code, out, err = run([*verb, "--dir", directory], capsys)
    assert code in EXIT_CODES, err
    assert "Traceback" not in out + err


@REGRESSIONS
@given(
    argv=st.sampled_from(
        [
            ["vault", "policy", "--mount=--"],
            ["vault", "policy", "--prefix=--"],
            ["vault", "check", "apps/chatbot", "--mount=--"],
            ["vault", "check", "apps/chatbot", "--prefix=--"],
            ["sandbox", "status", "--dir=--"],
            ["sandbox", "console", "list", "--dir=--"],
            ["sandbox", "console", "create", "k", "--dir=--"],
        ]
    )
)
def test_an_option_given_as_double_dash_exits_documented(
    world: World, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Was a bug: on a Python whose argparse hands `--OPT=--` to the command as [] instead of '--'
    (CPython gh-109475, fixed upstream by gh-114814; the .venv's 3.11.7 predates it), `vault
    policy|check --mount=--/--prefix=--` raised AttributeError in vault_sink.check_path and `sandbox
    status|console --dir=--` TypeError in pathlib: tracebacks, not exit 2."""
    code, out, err = run(argv, capsys)
    assert code in EXIT_CODES, err
    assert "Traceback" not in out + err
