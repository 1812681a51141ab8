"""`gradient-keys history KEY`: every version of a key Vault keeps, newest first: when, by whom,
why, which slot, which secret (its fingerprint). Reads Vault only; changes nothing."""

from __future__ import annotations

import argparse
import json
import sys

from components.commands.common import (
    Commands,
    Parser,
    format_option,
    load_settings,
    operations,
    print_table,
    stack_options,
)
from components.config import KeySpec, StackSettings
from components.errors import ConfigurationError, ExitCode
from components.history import DEFAULT_LIMIT, PARTIAL, HistoryEntry, KeyHistory, read_history
from components.provenance import Actor
from components.terminal import escape_controls

__all__ = ["add"]

MAX_LIMIT = 1000  # KV v2 keeps at most this many versions of a path (max_versions)
COLUMNS = ("version", "written", "by", "why", "slot", "fingerprint", "run")  # 89 columns at most
_SHORT_ACTOR = {Actor.PULUMI.value: "pulumi", Actor.ROTATE.value: "rotate"}


def add(commands: Commands[Parser]) -> None:
    history = commands.add_parser(
        "history", help="every rotation of a key, from its Vault versions: when, who, why; changes nothing"
    )
    history.add_argument("key", metavar="KEY", help="a declared key name")
    stack_options(history)
    history.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the N newest versions (default {DEFAULT_LIMIT})",
    )
    format_option(history)
    history.set_defaults(func=_history)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_LIMIT}")
    return value


def declared(settings: StackSettings, name: str) -> KeySpec:
    """The declared key named `name`, or a usage error naming the declared ones."""
    for spec in settings.keys:
        if spec.name == name:
            return spec
    known = ", ".join(sorted(s.name for s in settings.keys)) or "none"
    raise ConfigurationError(f"no key named {name!r} in stack {settings.stack}; declared: {known}")


def _history(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    spec = declared(settings, args.key)  # before any request: a typo costs nothing
    ops = operations(settings)
    vault = ops.endpoints().vault  # history reads Vault only
    print(f"endpoints: {vault.describe() if vault else 'Vault not set (VAULT_ADDR)'}", file=sys.stderr)
    history = read_history(ops.vault, spec, limit=args.limit, now=ops.clock())
    if args.format == "json":
        document = {**history.document(settings.stack), "vault_requests": ops.vault.requests_made}
        print(json.dumps(document, indent=2))
        return ExitCode.OK
    if history.entries:
        print_table([_row(e) for e in history.entries], COLUMNS)
    for entry in history.entries:
        if details := _details(entry):
            print(escape_controls(f"  version {entry.version}: {details}"))
    for line in _summary(history, settings, ops.vault.requests_made):
        print(line)
    return ExitCode.OK


def _row(entry: HistoryEntry) -> dict[str, object]:
    """One table row: a version and what its ledger says, "-" where it says nothing."""
    return {
        "version": f"{entry.version}{' *' if entry.current else ''}",
        "written": entry.written_at,
        "by": _SHORT_ACTOR.get(entry.actor or "", entry.actor) or "-",
        "why": entry.reason or "-",
        "slot": entry.active_slot or "-",
        "fingerprint": entry.fingerprint or "-",
        "run": entry.run_id or "-",
    }


def _details(entry: HistoryEntry) -> str:
    """What the table has no room for: the CI job and who started it, and the notes."""
    parts = []
    if entry.ci_job or entry.ci_user:
        parts.append(f"CI {entry.ci_job or ''}{f' (by {entry.ci_user})' if entry.ci_user else ''}".strip())
    if entry.note:
        parts.append(entry.note)
    return "; ".join(parts)


def _summary(history: KeyHistory, settings: StackSettings, requests: int) -> list[str]:
    where = f"{settings.vault.mount}/{settings.vault.path_prefix}/{history.vault_path}"
    if not history.current_version:
        return [f"key {history.key} (stack {settings.stack}): nothing stored at {where} yet"]
    lines = [
        f"key {history.key} (stack {settings.stack}, {where}): shown {len(history.entries)} of the "
        f"{history.kept} version(s) Vault keeps; the current one is {history.current_version} (*); "
        f"{requests} Vault requests"
    ]
    if history.truncated:
        lines.append(f"older versions: --limit {history.kept} shows every one Vault keeps")
    if history.oldest_kept and history.oldest_kept > 1:
        lines.append(f"versions before {history.oldest_kept} are no longer kept by Vault (its max_versions)")
    if history.partial:
        lines.append(f"partial: {PARTIAL}")
    return [escape_controls(line) for line in lines]
