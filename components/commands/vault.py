"""`gradient-keys vault policy|check`: the Vault policy the tool needs, and a preflight of this
Vault login on key paths."""

from __future__ import annotations

import argparse
import os
import sys

from components.commands.common import Commands, Parser
from components.errors import ConfigurationError, ExitCode
from components.vault_policy import render_policy
from components.vault_sink import DELETE_MODES, VaultSink

__all__ = ["add"]


def add(commands: Commands[Parser]) -> None:
    vault = commands.add_parser("vault", help="Vault settings the tool needs")
    vault_cmds = vault.add_subparsers(dest="vault_command", required=True)
    policy = vault_cmds.add_parser("policy", help="print the least-privilege policy for a mount and prefix")
    policy.add_argument("--mount", default="secret", help="KV v2 mount (default secret)")
    policy.add_argument("--prefix", default="gradient-keys", help="path prefix (default gradient-keys)")
    policy.add_argument(
        "--audit-only", action="store_true", help="a read-only policy for `gradient-keys audit` alone"
    )
    policy.add_argument(
        "--verify-secrets",
        action="store_true",
        help="with --audit-only: also read secret values, for `audit --verify-secrets`",
    )
    policy.set_defaults(func=_vault_policy)
    check = vault_cmds.add_parser("check", help="preflight: may this Vault login write these key paths?")
    check.add_argument(
        "paths", nargs="+", metavar="PATH", help="key paths under the prefix, e.g. apps/chatbot"
    )
    check.add_argument("--mount", default="secret", help="KV v2 mount (default secret)")
    check.add_argument("--prefix", default="gradient-keys", help="path prefix (default gradient-keys)")
    check.add_argument(
        "--on-delete", choices=DELETE_MODES, default="soft-delete", help="delete mode to check for"
    )
    check.set_defaults(func=_vault_check)


def _vault_policy(args: argparse.Namespace) -> int:
    if args.verify_secrets and not args.audit_only:
        raise ConfigurationError("--verify-secrets shapes the --audit-only policy; add --audit-only")
    sys.stdout.write(
        render_policy(args.mount, args.prefix, audit_only=args.audit_only, verify_secrets=args.verify_secrets)
    )
    return ExitCode.OK


def _vault_check(args: argparse.Namespace) -> int:
    sink = VaultSink(args.mount, args.prefix, environ=os.environ)
    sink.preflight(args.paths, delete_mode=args.on_delete)
    for path in args.paths:
        print(f"ok  {sink.api_path(path, 'data')}  (write, ledger, on_delete {args.on_delete})")
    return ExitCode.OK
