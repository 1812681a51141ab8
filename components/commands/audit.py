"""`gradient-keys audit`: declared keys vs DigitalOcean vs Vault; changes nothing."""

from __future__ import annotations

import argparse
import json
import sys

from components.audit import SEVERITIES, run_audit
from components.commands.common import (
    Commands,
    Parser,
    load_settings,
    operations,
    print_table,
    say,
    stack_options,
)
from components.errors import ExitCode

__all__ = ["add"]


def add(commands: Commands[Parser]) -> None:
    audit = commands.add_parser("audit", help="declared keys vs DigitalOcean vs Vault; changes nothing")
    stack_options(audit)
    audit.add_argument("--format", choices=("table", "json"), default="table")
    audit.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="high",
        help="exit 1 on findings this severe or worse (default high)",
    )
    audit.add_argument(
        "--verify-secrets",
        action="store_true",
        help="read each secret to check its fingerprint (the only mode that does)",
    )
    audit.set_defaults(func=_audit)


def _audit(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    ops = operations(settings)
    print(ops.endpoints().describe(), file=sys.stderr)
    progress = say if args.format == "table" else (lambda _line: None)
    report = run_audit(settings, ops, verify_secrets=args.verify_secrets, progress=progress)
    document = report.document()
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        rows = [
            {**vars(f), "key": f.key or f.digitalocean_uuid or f.vault_path or ""} for f in report.findings
        ]
        if rows:
            print_table(rows, ("severity", "id", "key", "message", "fix"))
        summary = document["summary"]
        counts = ", ".join(f"{n} {s}" for s, n in summary["findings"].items() if n) or "no findings"
        print(
            f"stack {settings.stack}: {summary['keys_declared']} declared key(s), "
            f"{summary['digitalocean_keys']} DigitalOcean key(s): {counts} "
            f"({summary['digitalocean_requests']} DigitalOcean and "
            f"{summary['vault_requests']} Vault requests, {summary['seconds']:.1f}s)"
        )
    return ExitCode.FAILED if report.fails(args.fail_on) else ExitCode.OK
