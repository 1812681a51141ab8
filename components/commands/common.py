"""What the subcommands share: stack lookup, the core on this process's clients, tables, messages,
and the parser class whose errors can be answered in JSON."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from components.clients import ClientFactory
from components.config import StackSettings, load_stack_file
from components.errors import ConfigurationError, ExitCode
from components.keys import KeyContext, KeyOperations
from components.project import stack_file
from components.provenance import Actor, Provenance
from components.terminal import escape_controls

__all__ = [
    "Commands",
    "Parser",
    "format_option",
    "UsageError",
    "load_settings",
    "operations",
    "print_table",
    "sandbox_dir",
    "say",
    "stack_options",
]


def say(line: str) -> None:
    """A progress or error line on stderr, controls escaped (names come from outside)."""
    print(escape_controls(line, keep_newlines=True), file=sys.stderr)


def print_table(rows: list[dict[str, Any]], columns: Sequence[str], stream: TextIO = sys.stdout) -> None:
    # Cells come from outside (key names typed in the control panel): controls are shown escaped.
    cells = [{c: escape_controls(str(r.get(c) or "")) for c in columns} for r in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip(), file=stream)
    for row in cells:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip(), file=stream)


class UsageError(SystemExit):
    """argparse refused the arguments: its `error` has printed the usage and the message, and
    raises this (a SystemExit with code 2, as argparse's own) so `main` can answer in JSON too."""

    def __init__(self, message: str) -> None:
        super().__init__(ExitCode.USAGE)
        self.message = message


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        text = f"{self.prog}: error: {message}"
        self.print_usage(sys.stderr)
        say(text)
        raise UsageError(text)


Commands = argparse._SubParsersAction  # the `add_parser` side of a parser's subcommands


def format_option(parser: argparse.ArgumentParser, *, markdown: bool = False) -> None:
    """`--format`: a table for people (the default), one JSON document for jobs, and for the
    audit, Markdown for a CI job summary."""
    choices = ("table", "json", "markdown") if markdown else ("table", "json")
    extra = ", markdown (a CI job summary)" if markdown else ""
    parser.add_argument(
        "--format",
        choices=choices,
        default="table",
        help=f"table (for people; the default), json (one document, for jobs){extra}",
    )


def stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="stack name: reads Pulumi.NAME.yaml in the Pulumi project's stackConfigDir "
        "(the project: the nearest directory upward holding Pulumi.yaml)",
    )
    parser.add_argument(
        "--project", metavar="DIR", help="the Pulumi project directory (default: found from here upward)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="stack config file (instead of --stack; the stack is named after the file)",
    )


def load_settings(args: argparse.Namespace) -> StackSettings:
    if args.config and (args.stack or args.project):
        given = "--stack" if args.stack else "--project"
        raise ConfigurationError(
            f"{given} and --config both say where the stack is; pass one: --stack NAME (the project's "
            "Pulumi.NAME.yaml) or --config FILE (a stack named after the file: Pulumi.NAME.yaml is NAME)"
        )
    if args.config:
        settings = load_stack_file(Path(args.config))
    elif not args.stack:
        raise ConfigurationError(
            "say which stack: --stack NAME (the Pulumi project's Pulumi.NAME.yaml) or --config FILE"
        )
    else:
        explicit = Path(args.project) if args.project else None
        settings = load_stack_file(stack_file(args.stack, Path.cwd(), explicit), args.stack)
    args.known_stack = settings.stack  # an error document names the stack once it is known
    return settings


def operations(settings: StackSettings, actor: Actor | None = None) -> KeyOperations:
    """The core on clients built from this process's environment (the command is a front end).
    A command that writes says which it is (`actor`): its ledgers record it, with the CI job."""
    provenance = Provenance.from_environ(actor, os.environ) if actor is not None else None
    context = KeyContext.of(settings, provenance)
    return KeyOperations(context, ClientFactory(os.environ))


def sandbox_dir(args: argparse.Namespace) -> Path:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    directory = Path(
        args.dir
        if args.dir is not None
        else os.environ.get("GRADIENT_KEYS_SANDBOX_DIR") or launcher.DEFAULT_DIR
    )
    try:
        if "\x00" in str(directory):
            raise ValueError(directory)
        directory.exists()  # an over-long name is refused here, before anything uses it
    except (OSError, ValueError):
        raise ConfigurationError(
            f"the sandbox directory {escape_controls(str(directory))[:200]!r} is not a usable path; "
            "pass --dir with an existing or creatable directory"
        ) from None
    return directory
