"""The `gradient-keys` command.

    gradient-keys rotate --stack NAME [--project DIR] [--due | --all | KEY...] [--emergency]
                         [--dry-run] [--format json] [--min-interval 1h] [--force] [--wait SECONDS]
    gradient-keys audit --stack NAME [--project DIR] [--format table|json] [--fail-on SEVERITY]
                        [--verify-secrets]
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
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from components.audit import SEVERITIES, run_audit
from components.bulk_rotation import RotationRunner, Status
from components.clients import ClientFactory
from components.config import StackSettings, load_stack_file, parse_duration
from components.do_keys import ClientSettings, ModelKeys
from components.errors import ConfigurationError, ExitCode, GradientKeysError, exit_code
from components.keys import KeyContext, KeyOperations
from components.project import stack_file
from components.terminal import escape_controls
from components.vault_policy import render_policy
from components.vault_sink import DELETE_MODES, VaultSink

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = (
    ExitCode.OK,
    ExitCode.FAILED,
    ExitCode.USAGE,
    ExitCode.UNREACHABLE,
    ExitCode.REFUSED,
)


def _sandbox_dir(args: argparse.Namespace) -> Path:
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


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str], stream: TextIO = sys.stdout) -> None:
    # Cells come from outside (key names typed in the control panel): controls are shown escaped.
    cells = [{c: escape_controls(str(r.get(c) or "")) for c in columns} for r in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip(), file=stream)
    for row in cells:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip(), file=stream)


def _say(line: str) -> None:
    print(escape_controls(line, keep_newlines=True), file=sys.stderr)


def _keys_list(args: argparse.Namespace) -> int:
    with ModelKeys(ClientSettings.from_env(os.environ)) as client:
        print(f"endpoints: DigitalOcean API {client.settings.api_url}", file=sys.stderr)
        keys = client.list_all()
        rows = [
            {"uuid": k.uuid, "name": k.name, "created_at": k.created_at, "created_by": k.created_by}
            for k in keys
        ]
        if args.format == "json":
            print(json.dumps({"keys": rows, "total": len(rows), "requests": client.requests_made}, indent=2))
        else:
            _print_table(rows, ("uuid", "name", "created_at"))
            print(f"{len(rows)} key(s), {client.requests_made} request(s)", file=sys.stderr)
    return EXIT_OK


def _sandbox_serve(args: argparse.Namespace) -> int:
    from sandbox import emulator  # noqa: PLC0415 - loads the sandbox for its commands only

    return emulator.run(emulator.config_from_args(args))


def _sandbox_up(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    directory = _sandbox_dir(args)
    extra: list[str] = ["--create-mode", args.create_mode]
    for token in args.token or []:
        extra += ["--token", token]
    for token in args.read_only_token:
        extra += ["--read-only-token", token]
    if args.admin_token is not None:
        extra += ["--admin-token", args.admin_token]
    extra += ["--rate-limit-per-minute", str(args.rate_limit_per_minute)]
    extra += ["--rate-limit-per-hour", str(args.rate_limit_per_hour)]
    info = launcher.up(directory, extra, port=args.port, vault=not args.no_vault)
    sys.stdout.write(info.exports(directory))
    vault = f", Vault (OpenBao dev) at {info.vault_addr}" if info.vault_addr else ""
    print(
        f"sandbox running: DigitalOcean at {info.api_url}{vault}; stop it with `gradient-keys sandbox down`",
        file=sys.stderr,
    )
    return EXIT_OK


def _sandbox_down(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    stopped = launcher.down(_sandbox_dir(args))
    print("sandbox stopped" if stopped else "no sandbox was running", file=sys.stderr)
    return EXIT_OK


def _sandbox_status(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    info = launcher.running(_sandbox_dir(args))
    if info is None:
        print("no sandbox is running", file=sys.stderr)
        return EXIT_FAILED
    print(f"sandbox running at {info.api_url} (pid {info.pid})")
    return EXIT_OK


def _load_settings(args: argparse.Namespace) -> StackSettings:
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


def _operations(settings: StackSettings) -> KeyOperations:
    """The core on clients built from this process's environment (the command is a front end)."""
    context = KeyContext(settings.stack, settings.vault, settings.digitalocean)
    return KeyOperations(context, ClientFactory(os.environ))


def _rotate(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    ops = _operations(settings)
    print(ops.endpoints().describe(), file=sys.stderr)
    if not args.dry_run:
        # A missing DIGITALOCEAN_TOKEN is a usage error, found before any plan. A dry run makes no
        # DigitalOcean request (planning reads Vault; an unsettled ledger's check calls the
        # inference endpoint with the stored secret), so it runs without the token.
        ops.do  # noqa: B018
    say = _say if args.format == "table" else (lambda _line: None)
    runner = RotationRunner(
        settings,
        ops,
        emergency=args.emergency,
        fresh=args.fresh,
        progress=say,
        min_interval_seconds=_min_interval(args.min_interval),
        force=args.force,
        wait_seconds=args.wait,
    )
    specs = runner.select(due=args.due, every=args.all, names=args.keys)
    outcomes = runner.plan(specs, dry_run=args.dry_run)
    planned = [o for o in outcomes if o.status is Status.PLANNED]
    plan_line = f"{len(planned)} of {len(outcomes)} key(s)"
    if args.format == "table" and not args.dry_run:
        print(
            f"plan for stack {settings.stack} (run {runner.run_id}): will rotate {plan_line}", file=sys.stderr
        )
        _print_table([o.public() for o in outcomes], ("key", "status", "reason", "detail"), stream=sys.stderr)
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
    if args.format == "json":
        print(json.dumps(document, indent=2))
    elif args.dry_run:  # the plan is a dry run's output
        _print_table([o.public() for o in outcomes], ("key", "status", "reason", "detail"))
        print(
            f"would rotate {plan_line} (stack {settings.stack}, dry run {runner.run_id}; "
            f"{summary.digitalocean_requests} DigitalOcean and {summary.vault_requests} Vault requests)"
        )
    else:
        _print_table(
            [o.public() for o in outcomes], ("key", "status", "active_slot", "vault_version", "detail")
        )
        print(
            f"rotated {summary.rotated}, already done {summary.already_done}, not due {summary.not_due}, "
            f"failed {summary.failed} in {summary.seconds:.1f}s "
            f"({summary.digitalocean_requests} DigitalOcean and {summary.vault_requests} Vault requests)"
        )
    return summary.exit_code


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


def _audit(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    ops = _operations(settings)
    print(ops.endpoints().describe(), file=sys.stderr)
    say = _say if args.format == "table" else (lambda _line: None)
    report = run_audit(settings, ops, verify_secrets=args.verify_secrets, progress=say)
    document = report.document()
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        rows = [
            {**vars(f), "key": f.key or f.digitalocean_uuid or f.vault_path or ""} for f in report.findings
        ]
        if rows:
            _print_table(rows, ("severity", "id", "key", "message", "fix"))
        summary = document["summary"]
        counts = ", ".join(f"{n} {s}" for s, n in summary["findings"].items() if n) or "no findings"
        print(
            f"stack {settings.stack}: {summary['keys_declared']} declared key(s), "
            f"{summary['digitalocean_keys']} DigitalOcean key(s): {counts} "
            f"({summary['digitalocean_requests']} DigitalOcean and "
            f"{summary['vault_requests']} Vault requests, {summary['seconds']:.1f}s)"
        )
    return EXIT_FAILED if report.fails(args.fail_on) else EXIT_OK


def _vault_policy(args: argparse.Namespace) -> int:
    if args.verify_secrets and not args.audit_only:
        raise ConfigurationError("--verify-secrets shapes the --audit-only policy; add --audit-only")
    sys.stdout.write(
        render_policy(args.mount, args.prefix, audit_only=args.audit_only, verify_secrets=args.verify_secrets)
    )
    return EXIT_OK


def _vault_check(args: argparse.Namespace) -> int:
    sink = VaultSink(args.mount, args.prefix, environ=os.environ)
    sink.preflight(args.paths, delete_mode=args.on_delete)
    for path in args.paths:
        print(f"ok  {sink.api_path(path, 'data')}  (write, ledger, on_delete {args.on_delete})")
    return EXIT_OK


def _console_create(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    reply = launcher.console(_sandbox_dir(args), "POST", "/_sandbox/console/keys", {"name": args.name})
    info = reply["api_key_info"]
    print(f"{info['uuid']}  {info['name']}")
    if args.show_secret:
        print(f"secret (shown once): {info['secret_key']}")
    else:
        print("its secret is not shown and not kept (--show-secret prints it, once)", file=sys.stderr)
    return EXIT_OK


def _console_list(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    reply = launcher.console(_sandbox_dir(args), "GET", "/_sandbox/console/keys")
    _print_table(reply["api_key_infos"], ("uuid", "name", "created_at"))
    return EXIT_OK


Commands = argparse._SubParsersAction  # the `add_parser` side of a parser's subcommands


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradient-keys", description="DigitalOcean model access keys as code")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_keys, _add_sandbox, _add_rotate, _add_audit, _add_vault):
        add(commands)
    return parser


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        help="stack name: reads Pulumi.NAME.yaml in the Pulumi project's stackConfigDir "
        "(the project: the nearest directory upward holding Pulumi.yaml)",
    )
    parser.add_argument(
        "--project", metavar="DIR", help="the Pulumi project directory (default: found from here upward)"
    )
    parser.add_argument(
        "--config", help="stack config file (instead of --stack; the stack is named after the file)"
    )


def _add_keys(commands: Commands[_Parser]) -> None:
    keys = commands.add_parser("keys", help="inspect DigitalOcean model access keys")
    keys_cmds = keys.add_subparsers(dest="keys_command", required=True)
    key_list = keys_cmds.add_parser("list", help="list every key (per_page 200, all pages)")
    key_list.add_argument("--format", choices=("table", "json"), default="table")
    key_list.set_defaults(func=_keys_list)


def _add_sandbox(commands: Commands[_Parser]) -> None:
    from sandbox import options  # noqa: PLC0415 - `sandbox up|serve` take the emulator's options

    sandbox = commands.add_parser("sandbox", help="the local DigitalOcean sandbox")
    sandbox_cmds = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_cmds.add_parser("serve", help="run the sandbox in the foreground")
    options.add_arguments(serve)
    serve.set_defaults(func=_sandbox_serve)

    up = sandbox_cmds.add_parser("up", help="start the sandbox in the background; prints `export` lines")
    options.add_arguments(up)
    up.set_defaults(port=0)
    up.add_argument("--dir", help="state directory (default .gradient-keys-sandbox)")
    up.add_argument("--no-vault", action="store_true", help="do not start the local OpenBao (Vault)")
    up.set_defaults(func=_sandbox_up)
    for name, func, text in (
        ("down", _sandbox_down, "stop the background sandbox"),
        ("status", _sandbox_status, "is a sandbox running here?"),
    ):
        sub = sandbox_cmds.add_parser(name, help=text)
        sub.add_argument("--dir", help="state directory (default .gradient-keys-sandbox)")
        sub.set_defaults(func=func)

    console = sandbox_cmds.add_parser("console", help="the sandbox's control panel")
    console_cmds = console.add_subparsers(dest="console_command", required=True)
    create = console_cmds.add_parser("create", help="make a key as the control panel would")
    create.add_argument("name")
    create.add_argument("--show-secret", action="store_true", help="print the new key's secret once")
    create.add_argument("--dir", help="state directory (default .gradient-keys-sandbox)")
    create.set_defaults(func=_console_create)
    listing = console_cmds.add_parser("list", help="keys as the control panel shows them")
    listing.add_argument("--dir", help="state directory (default .gradient-keys-sandbox)")
    listing.set_defaults(func=_console_list)


def _add_rotate(commands: Commands[_Parser]) -> None:
    rotate = commands.add_parser("rotate", help="rotate keys now: due, all or named; emergency; resumable")
    _stack_options(rotate)
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
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="wait this long for another run on the stack to finish (default 90)",
    )
    rotate.add_argument("--format", choices=("table", "json"), default="table")
    rotate.set_defaults(func=_rotate)


def _add_audit(commands: Commands[_Parser]) -> None:
    audit = commands.add_parser("audit", help="declared keys vs DigitalOcean vs Vault; changes nothing")
    _stack_options(audit)
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


def _add_vault(commands: Commands[_Parser]) -> None:
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


class _UsageError(SystemExit):
    """argparse refused the arguments: its `error` has printed the usage and the message, and
    raises this (a SystemExit with code 2, as argparse's own) so `main` can answer in JSON too."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        text = f"{self.prog}: error: {message}"
        self.print_usage(sys.stderr)
        _say(text)
        raise _UsageError(text)


# The commands whose `--format json` promises one document on stdout, failures included.
_JSON_COMMANDS = (("rotate",), ("audit",), ("keys", "list"))


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether these arguments ask a JSON command for JSON, read without argparse (which may just
    have refused them): the command words first, then `--format json` or `--format=json`."""
    words = [a for a in argv if not a.startswith("-")]
    if not any(tuple(words[: len(c)]) == c for c in _JSON_COMMANDS):
        return False
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--format=json" in argv or any(a == "--format" and b == "json" for a, b in pairs)


def _error_document(kind: str, message: str, code: int, stack: str | None) -> None:
    """The one JSON document of a run that failed before it had its own (docs/exit-codes.md)."""
    error: dict[str, Any] = {"kind": kind, "message": message, "exit_code": int(code)}
    document: dict[str, Any] = {"error": error}
    if stack:
        document["stack"] = stack
    print(json.dumps(document, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode = _wants_json(argv)
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        if json_mode:
            _error_document("usage", exc.message, EXIT_USAGE, None)
        return EXIT_USAGE
    for name in _TEXT_OPTIONS:
        if isinstance(getattr(args, name, None), list):
            message = f"--{name.replace('_', '-')} needs a value"
            if json_mode:
                _error_document("usage", message, EXIT_USAGE, None)
            print(f"error: {message}", file=sys.stderr)
            return EXIT_USAGE
    handler = logging.StreamHandler()
    handler.setFormatter(_EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        return int(args.func(args))
    except GradientKeysError as exc:
        _say(f"error: {exc}")
        if json_mode:
            stack = getattr(args, "known_stack", None) or getattr(args, "stack", None)
            _error_document(type(exc).__name__, str(exc), exit_code(exc), stack)
        return exit_code(exc)
    except _sandbox_errors() as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED


def _sandbox_errors() -> tuple[type[Exception], ...]:
    """The launcher's SandboxError, once a sandbox command has imported the launcher: only
    they raise it, and other commands do not load the sandbox just to name it."""
    launcher = sys.modules.get("sandbox.launcher")
    return () if launcher is None else (launcher.SandboxError,)


if __name__ == "__main__":
    sys.exit(main())
