"""`gradient-keys rotate`: rotate keys now (due, all or named; emergency), resumable, one run per
stack; `--dry-run` prints the plan and changes nothing."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from components.bulk_rotation import Outcome, RotationRunner, Status
from components.commands.common import (
    Commands,
    Parser,
    format_option,
    load_settings,
    operations,
    print_table,
    say,
    stack_options,
)
from components.commands.notifications import notify_rotation
from components.config import parse_duration
from components.errors import ConfigurationError
from components.provenance import Actor

__all__ = ["add"]

PLAN_COLUMNS = ("key", "status", "outage", "reason", "detail")


def add(commands: Commands[Parser]) -> None:
    rotate = commands.add_parser("rotate", help="rotate keys now: due, all or named; emergency; resumable")
    stack_options(rotate)
    which = rotate.add_mutually_exclusive_group()
    which.add_argument(
        "--due", action="store_true", help="keys whose rotation is due (age or rotation_token)"
    )
    which.add_argument("--all", action="store_true", help="every declared key")
    rotate.add_argument("keys", nargs="*", metavar="KEY", help="declared key names")
    rotate.add_argument("--emergency", action="store_true", help="a leaked key: regenerate every slot now")
    rotate.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    rotate.add_argument(
        "--fresh", action="store_true", help="start a new run even if an unfinished one exists"
    )
    rotate.add_argument(
        "--min-interval",
        default="1h",
        metavar="DURATION",
        help="skip keys a rotation gave their secret less than this ago (default 1h; 0 disables)",
    )
    rotate.add_argument("--force", action="store_true", help="rotate even keys rotated within --min-interval")
    rotate.add_argument(
        "--wait",
        type=_seconds,
        default=90.0,
        metavar="SECONDS",
        help="wait this long for another run on the stack to finish (default 90)",
    )
    rotate.add_argument(
        "--yes",
        "--allow-outage",
        dest="yes",
        action="store_true",
        help="with --all or --emergency: accept cutting off the consumers of in-place keys (or, in an "
        "emergency, of every key) until they re-read Vault; asked on a terminal, required otherwise",
    )
    format_option(rotate)
    rotate.set_defaults(func=_rotate)


def _rotate(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    ops = operations(settings, Actor.ROTATE)  # its ledgers say the command wrote them
    print(ops.endpoints(settings.keys).describe(), file=sys.stderr)
    if not args.dry_run:
        # A missing token (DIGITALOCEAN_TOKEN, or an account's) is a usage error, found before any
        # plan. A dry run makes no DigitalOcean request (planning reads Vault; an unsettled ledger's
        # check calls the inference endpoint with the stored secret), so it runs without tokens.
        for spec in {s.account: s for s in settings.keys}.values():
            ops.client_for(spec)
    runner = RotationRunner(
        settings,
        ops,
        emergency=args.emergency,
        fresh=args.fresh,
        progress=say if args.format == "table" else (lambda _line: None),
        min_interval_seconds=_min_interval(args.min_interval),
        force=args.force,
        wait_seconds=args.wait,
    )
    specs = runner.select(due=args.due, every=args.all, names=args.keys)
    outcomes = runner.plan(specs, dry_run=args.dry_run)
    planned = [o for o in outcomes if o.status is Status.PLANNED]
    plan_line = f"{len(planned)} of {len(outcomes)} key(s)"
    outage = _Outage.of(outcomes, emergency=args.emergency)
    if args.format == "table" and not args.dry_run:
        print(
            f"plan for stack {settings.stack} (run {runner.run_id}): will rotate {plan_line}", file=sys.stderr
        )
        print_table(_rows(outcomes), PLAN_COLUMNS, stream=sys.stderr)
        if outage:
            say(outage.line())
    if outage and not args.dry_run and (args.all or args.emergency):
        _confirm_outage(args, outage)
    summary = runner.summarize_plan(outcomes) if args.dry_run else runner.run(outcomes)
    counts = vars(summary)
    document = {
        "stack": settings.stack,
        "run_id": runner.run_id,
        "resumed": runner.resumed,
        "dry_run": args.dry_run,
        "emergency": args.emergency,
        "selection": runner.selection,
        "keys": [o.public() for o in outcomes],
        "summary": {"would_rotate": len(planned), **counts} if args.dry_run else counts,
    }
    document["notifications"] = notify_rotation(settings, ops, runner, outcomes, args)
    if args.format == "json":
        print(json.dumps(document, indent=2))
    elif args.dry_run:  # the plan is a dry run's output
        print_table(_rows(outcomes), PLAN_COLUMNS)
        if outage:
            print(outage.line())
        print(
            f"would rotate {plan_line} (stack {settings.stack}, dry run {runner.run_id}; "
            f"{summary.digitalocean_requests} DigitalOcean and {summary.vault_requests} Vault requests)"
        )
    else:
        columns = ("key", "status", "active_slot", "vault_version", "detail")
        print_table([o.public() for o in outcomes], columns)
        print(
            f"rotated {summary.rotated}, already done {summary.already_done}, not due {summary.not_due}, "
            f"failed {summary.failed} in {summary.seconds:.1f}s "
            f"({summary.digitalocean_requests} DigitalOcean and {summary.vault_requests} Vault requests)"
        )
        if summary.time:
            print("time: " + ", ".join(f"{part} {seconds:.1f}s" for part, seconds in summary.time.items()))
    return summary.exit_code


@dataclass(frozen=True)
class _Outage:
    """Keys whose rotation cuts their consumers off until they re-read Vault, and why."""

    keys: tuple[str, ...]
    emergency: bool

    @classmethod
    def of(cls, outcomes: list[Outcome], *, emergency: bool) -> _Outage:
        return cls(tuple(o.key for o in outcomes if o.outage), emergency)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def cut_off(self) -> str:
        why = (
            "an emergency regenerates every slot"
            if self.emergency
            else "regenerating an in-place key kills its only secret"
        )
        return (
            f"the consumers of {len(self.keys)} key(s) ({', '.join(self.keys)}) are cut off until "
            f"they re-read Vault ({why})"
        )

    def line(self) -> str:
        return f"outage: {self.cut_off()}"


def _rows(outcomes: list[Outcome]) -> list[dict[str, object]]:
    return [{**o.public(), "outage": "yes" if o.outage else ""} for o in outcomes]


def _confirm_outage(args: argparse.Namespace, outage: _Outage) -> None:
    """`--all` and `--emergency` sweep in keys whose rotation is an outage: a person on a terminal
    confirms it (the plan above names them), a job says `--yes`. Nothing has changed yet when
    this refuses."""
    if args.yes:
        return
    stdin = sys.stdin
    if stdin is not None and not stdin.closed and stdin.isatty():
        print("Go on, with that outage? Type yes to rotate: ", end="", file=sys.stderr, flush=True)
        if stdin.readline().strip().lower() in {"yes", "y"}:
            return
        raise ConfigurationError("not confirmed: nothing was rotated")
    selection = "--emergency" if args.emergency else "--all"
    alternative = "" if args.emergency else ", or name the dual-slot keys to rotate"
    raise ConfigurationError(
        f"rotate {selection} off a terminal needs --yes (or --allow-outage): {outage.cut_off()}. "
        f"Nothing was rotated; pass --yes to accept{alternative}"
    )


def _seconds(text: str) -> float:
    """--wait's value: a number of seconds, 0 or more (argparse names the option when refused)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _min_interval(text: str) -> int:
    if text == "0":
        return 0
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = None
    if seconds is None:
        raise ConfigurationError(f"--min-interval {text!r} is not a duration; use e.g. 1h, 90m, 2d or 0")
    return seconds
