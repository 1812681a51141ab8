"""The `gradient-keys` command.

    gradient-keys rotate --stack NAME [--project DIR] [--due | --all | KEY...] [--emergency]
                         [--dry-run] [--format json] [--min-interval 1h] [--force] [--wait SECONDS]
    gradient-keys audit --stack NAME [--project DIR] [--format table|json] [--fail-on SEVERITY]
                        [--verify-secrets]
    gradient-keys history KEY --stack NAME [--project DIR] [--limit N] [--format table|json]
                                                          every rotation of a key: when, who, why
    gradient-keys keys list [--format table|json]        the account's model access keys
    gradient-keys sandbox serve [emulator options]        run the local sandbox in the foreground
    gradient-keys sandbox up [--dir DIR] [options]        start it in the background, print exports
    gradient-keys sandbox status|down [--dir DIR]
    gradient-keys sandbox console create NAME [--show-secret]
    gradient-keys sandbox console list
    gradient-keys vault policy [--mount M] [--prefix P] [--audit-only [--verify-secrets]]
                                                          the least-privilege Vault policy
    gradient-keys vault check PATH... [--on-delete MODE]   preflight this Vault login on key paths

Exit codes (every command; docs/exit-codes.md): 0 ok, 1 failed work or findings at the threshold,
2 bad usage or configuration (nothing changed), 3 DigitalOcean or Vault unreachable, 4 a credential
refused (DigitalOcean token, Vault login or policy).
Nothing this command prints contains a token or a key secret, except `console create
--show-secret`, which shows a sandbox key's secret once as the control panel would.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from components.audit_report import markdown_cell
from components.commands import audit, history, keys, rotate, sandbox, vault
from components.commands.common import Parser, UsageError, say
from components.errors import ExitCode, GradientKeysError, exit_code
from components.terminal import escape_controls

__all__ = ["main"]

EXIT_USAGE, EXIT_FAILED = ExitCode.USAGE, ExitCode.FAILED


def _parser() -> Parser:
    parser = Parser(prog="gradient-keys", description="DigitalOcean model access keys as code")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (rotate, audit, history, keys, vault, sandbox):
        module.add(commands)
    return parser


class _EscapingFormatter(logging.Formatter):
    """Log lines quote key names too: their control characters are escaped like the tables'."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record), keep_newlines=True)


# Options that take one text value. Python 3.11's argparse turns `--mount=--` into an empty list
# (CPython gh-109475); such a value is a usage error, not a crash further in.
_TEXT_OPTIONS = (
    "mount",
    "prefix",
    "dir",
    "config",
    "stack",
    "project",
    "min_interval",
    "admin_token",
    "name",
)


# The commands whose `--format json` (or `markdown`) promises one document on stdout, failures included.
_DOCUMENT_COMMANDS = {
    "json": (("rotate",), ("audit",), ("history",), ("keys", "list")),
    "markdown": (("audit",),),
}


def _document_format(argv: Sequence[str]) -> str | None:
    """The document these arguments ask a command for (`json`, `markdown`), read without argparse
    (which may just have refused them): the command words first, then `--format F` or `--format=F`."""
    words = [a for a in argv if not a.startswith("-")]
    asked = next((b for a, b in itertools.pairwise(argv) if a == "--format"), None)
    asked = next((a.removeprefix("--format=") for a in argv if a.startswith("--format=")), asked)
    commands = _DOCUMENT_COMMANDS.get(asked or "", ())
    return asked if any(tuple(words[: len(c)]) == c for c in commands) else None


def _error_document(form: str | None, kind: str, message: str, code: int, stack: str | None) -> None:
    """The one document of a run that failed before it had its own (docs/exit-codes.md)."""
    if form == "json":
        error: dict[str, Any] = {"kind": kind, "message": message, "exit_code": int(code)}
        document: dict[str, Any] = {"error": error}
        if stack:
            document["stack"] = stack
        print(json.dumps(document, indent=2))
    elif form == "markdown":  # a CI job summary says why the audit did not run
        title = f"stack `{markdown_cell(stack)}`" if stack else "no stack"
        print(
            f"## gradient-keys audit: {title}\n\n"
            f"❌ **the audit did not run** (exit {int(code)}, {kind}): {markdown_cell(message)}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    form = _document_format(argv)
    parsed = _parse(argv, form)
    if not isinstance(parsed, argparse.Namespace):
        return parsed
    handler = logging.StreamHandler()
    handler.setFormatter(_EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if parsed.verbose else logging.WARNING, handlers=[handler])
    return _run(parsed, form)


def _parse(argv: list[str], form: str | None) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code of arguments refused (said, and in JSON mode, a document)."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        _error_document(form, "usage", exc.message, EXIT_USAGE, None)
        return EXIT_USAGE
    for name in _TEXT_OPTIONS:
        if isinstance(getattr(args, name, None), list):
            message = f"--{name.replace('_', '-')} needs a value"
            _error_document(form, "usage", message, EXIT_USAGE, None)
            print(f"error: {message}", file=sys.stderr)
            return EXIT_USAGE
    return args


def _run(args: argparse.Namespace, form: str | None) -> int:
    stack = getattr(args, "stack", None)
    try:
        return int(args.func(args))
    except GradientKeysError as exc:
        say(f"error: {exc}")
        known = getattr(args, "known_stack", None) or stack
        _error_document(form, type(exc).__name__, str(exc), exit_code(exc), known)
        return exit_code(exc)
    except _sandbox_errors() as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    except Exception as exc:  # a bug: said in one line (and one document), never a raw traceback
        # Only the exception's type is shown: its text and the traceback's values are our own
        # state, which may hold names, paths or worse. -v logs the traceback for a bug report.
        logging.getLogger("gradient-keys").info("internal error", exc_info=True)
        message = (
            f"internal error ({type(exc).__name__}): a bug in gradient-keys, nothing more was done; "
            "run again with -v for the traceback, and report it"
        )
        say(f"error: {message}")
        _error_document(form, "internal", message, EXIT_FAILED, getattr(args, "known_stack", None) or stack)
        return EXIT_FAILED


def _sandbox_errors() -> tuple[type[Exception], ...]:
    """The launcher's SandboxError, once a sandbox command has imported the launcher: only
    they raise it, and other commands do not load the sandbox just to name it."""
    launcher = sys.modules.get("sandbox.launcher")
    return () if launcher is None else (launcher.SandboxError,)


if __name__ == "__main__":
    sys.exit(main())
