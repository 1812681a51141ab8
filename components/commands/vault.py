"""`gradient-keys vault policy|check`: the Vault policy the tool needs, and a preflight of this
Vault login on key paths. With `--stack` (or `--config`), both take the stack's mount and prefix,
and `check` takes its declared paths, each with its own `on_delete`."""

from __future__ import annotations

import argparse
import collections
import os
import sys

from components.commands.common import Commands, Parser, load_settings, operations, stack_options
from components.config import NAMESPACE, StackSettings
from components.errors import ConfigurationError, ExitCode
from components.vault_policy import render_policy
from components.vault_sink import DELETE_MODES, VaultSink

__all__ = ["add"]

DEFAULT_MOUNT = "secret"


def add(commands: Commands[Parser]) -> None:
    vault = commands.add_parser("vault", help="Vault settings the tool needs")
    vault_cmds = vault.add_subparsers(dest="vault_command", metavar="SUBCOMMAND", required=True)
    policy = vault_cmds.add_parser(
        "policy", help="print the least-privilege policy for a stack (or a mount and prefix)"
    )
    _where(policy)
    policy.add_argument(
        "--audit-only", action="store_true", help="a read-only policy for `gradient-keys audit` alone"
    )
    policy.add_argument(
        "--verify-secrets",
        action="store_true",
        help="with --audit-only: also read secret values, for `audit --verify-secrets`",
    )
    policy.set_defaults(func=_vault_policy)
    check = vault_cmds.add_parser(
        "check", help="preflight: may this Vault login manage a stack's key paths (or these)?"
    )
    check.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="key paths under the prefix, e.g. apps/chatbot (default with --stack: every declared key)",
    )
    _where(check)
    check.add_argument(
        "--on-delete",
        choices=DELETE_MODES,
        help="delete mode to check for (default: each key's own with --stack, else soft-delete)",
    )
    check.set_defaults(func=_vault_check)


def _where(parser: argparse.ArgumentParser) -> None:
    stack_options(parser)
    parser.add_argument(
        "--mount", help=f"KV v2 mount (default: the stack's, else {DEFAULT_MOUNT}); not with --stack"
    )
    parser.add_argument(
        "--prefix", help=f"path prefix (default: the stack's path_prefix, else {NAMESPACE}); not with --stack"
    )


def _stack(args: argparse.Namespace) -> StackSettings | None:
    """The stack named by --stack/--config, or None; its mount and prefix are not overridden."""
    if not (args.stack or args.config or args.project):
        return None
    if args.mount is not None or args.prefix is not None:
        given = "--mount" if args.mount is not None else "--prefix"
        raise ConfigurationError(
            f"{given} and the stack both say where the keys are; drop {given} (the stack file's "
            "gradient-keys:vault block decides) or drop --stack/--config"
        )
    return load_settings(args)


def _vault_policy(args: argparse.Namespace) -> int:
    if args.verify_secrets and not args.audit_only:
        raise ConfigurationError("--verify-secrets shapes the --audit-only policy; add --audit-only")
    settings = _stack(args)
    mount, prefix = (
        (settings.vault.mount, settings.vault.path_prefix)
        if settings is not None
        else (args.mount or DEFAULT_MOUNT, args.prefix or NAMESPACE)
    )
    webhooks = tuple(sorted(settings.notification_paths)) if settings is not None else ()
    tokens = tuple(sorted(settings.token_paths)) if settings is not None else ()
    policy = render_policy(
        mount,
        prefix,
        audit_only=args.audit_only,
        verify_secrets=args.verify_secrets,
        webhook_paths=webhooks,
        token_paths=tokens,
    )
    sys.stdout.write(policy)
    return ExitCode.OK


def _vault_check(args: argparse.Namespace) -> int:
    settings = _stack(args)
    if settings is None:
        if not args.paths:
            raise ConfigurationError("say what to check: --stack NAME (its declared keys) or PATH names")
        sink = VaultSink(args.mount or DEFAULT_MOUNT, args.prefix or NAMESPACE, environ=os.environ)
        modes = {path: args.on_delete or "soft-delete" for path in args.paths}
    else:
        sink = operations(settings).vault
        declared = {spec.vault_path: str(spec.on_delete) for spec in settings.keys}
        unknown = [p for p in args.paths if p not in declared]
        if unknown:
            raise ConfigurationError(
                f"{', '.join(repr(p) for p in unknown)} is not a vault_path of stack {settings.stack}; "
                f"declared: {', '.join(sorted(declared)) or 'none'}"
            )
        modes = {p: args.on_delete or declared[p] for p in (args.paths or declared)}
    by_mode: dict[str, list[str]] = collections.defaultdict(list)
    for path, mode in modes.items():
        by_mode[mode].append(path)
    for mode, paths in by_mode.items():
        sink.preflight(paths, delete_mode=mode)
    engine = sink.mount_engine()
    if engine != ("kv", "2"):
        found = "no mount this login can see" if engine is None else f"a {engine[0]} v{engine[1]} mount"
        raise ConfigurationError(
            f"Vault has {found} at {sink.mount}/, and gradient-keys needs KV version 2 there: fix the "
            "mount (the stack's gradient-keys:vault.mount, or --mount), or enable it: "
            f"`vault secrets enable -path={sink.mount} kv-v2`"
        )
    for path, mode in modes.items():
        print(f"ok  {sink.api_path(path, 'data')}  (write, ledger, on_delete {mode})")
    return ExitCode.OK
