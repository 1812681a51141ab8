"""`gradient-keys audit`: declared keys vs DigitalOcean vs Vault; changes nothing."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from components import audit_report
from components.audit import SEVERITIES, Severity, run_audit
from components.commands.common import (
    Commands,
    Parser,
    format_option,
    load_settings,
    operations,
    say,
    stack_options,
)
from components.commands.notifications import notify_audit
from components.errors import ExitCode

__all__ = ["add"]


def add(commands: Commands[Parser]) -> None:
    audit = commands.add_parser("audit", help="declared keys vs DigitalOcean vs Vault; changes nothing")
    stack_options(audit)
    format_option(audit, markdown=True)
    audit.add_argument(
        "--fail-on",
        choices=[str(s) for s in SEVERITIES],
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
    print(ops.endpoints(settings.keys).describe(), file=sys.stderr)
    progress = say if args.format == "table" else (lambda _line: None)
    report = run_audit(settings, ops, verify_secrets=args.verify_secrets, progress=progress)
    document = report.document()
    document["notifications"] = notify_audit(settings, ops, report, args)
    if args.format == "json":
        print(json.dumps(document, indent=2))
    elif args.format == "markdown":
        sys.stdout.write(audit_report.markdown(report, Severity(args.fail_on)))
    else:
        for line in audit_report.terminal_lines(report):
            print(line)
        summary = document["summary"]
        counts = ", ".join(f"{n} {s}" for s, n in summary["findings"].items() if n) or "no findings"
        line = (
            f"stack {settings.stack}: {summary['keys_declared']} declared key(s), "
            f"{summary['digitalocean_keys']} DigitalOcean key(s): {counts} "
            f"({summary['digitalocean_requests']} DigitalOcean and "
            f"{summary['vault_requests']} Vault requests, {summary['seconds']:.1f}s)"
        )
        print(textwrap.fill(line, audit_report.WIDTH, subsequent_indent="    ", break_on_hyphens=False))
    return ExitCode.FAILED if report.fails(args.fail_on) else ExitCode.OK
