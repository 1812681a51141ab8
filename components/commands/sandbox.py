"""`gradient-keys sandbox ...`: the local DigitalOcean sandbox (and its OpenBao) and its control
panel. The sandbox package is imported by these handlers only: other commands never load it."""

from __future__ import annotations

import argparse
import shlex
import sys

from components.commands.common import Commands, Parser, print_table, sandbox_dir
from components.errors import ExitCode

__all__ = ["add"]

DIR_HELP = (
    "state directory (default: $GRADIENT_KEYS_SANDBOX_DIR, which `sandbox up` exports, "
    "else .gradient-keys-sandbox in the current directory)"
)


def add(commands: Commands[Parser]) -> None:
    from sandbox import options  # noqa: PLC0415 - `sandbox up|serve` take the emulator's options

    sandbox = commands.add_parser("sandbox", help="the local DigitalOcean sandbox")
    sandbox_cmds = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)
    serve = sandbox_cmds.add_parser("serve", help="run the sandbox in the foreground")
    options.add_arguments(serve)
    serve.set_defaults(func=_sandbox_serve)

    up = sandbox_cmds.add_parser("up", help="start the sandbox in the background; prints `export` lines")
    options.add_arguments(up, background=True)
    up.add_argument("--dir", help=DIR_HELP)
    vault = up.add_mutually_exclusive_group()
    vault.add_argument("--no-vault", action="store_true", help="do not start the local OpenBao (Vault)")
    vault.add_argument(
        "--vault-ha",
        action="store_true",
        help="a 3-node OpenBao cluster (raft, TLS from a local CA) behind a balancer, instead of the "
        "dev server; exports VAULT_CACERT too",
    )
    up.set_defaults(func=_sandbox_up)
    for name, func, text in (
        ("down", _sandbox_down, "stop the background sandbox"),
        ("status", _sandbox_status, "is a sandbox running here?"),
    ):
        sub = sandbox_cmds.add_parser(name, help=text)
        sub.add_argument("--dir", help=DIR_HELP)
        sub.set_defaults(func=func)

    console = sandbox_cmds.add_parser("console", help="the sandbox's control panel")
    console_cmds = console.add_subparsers(dest="console_command", metavar="SUBCOMMAND", required=True)
    create = console_cmds.add_parser("create", help="make a key as the control panel would")
    create.add_argument("name", help="the key's name, as typed in the control panel")
    create.add_argument("--show-secret", action="store_true", help="print the new key's secret once")
    create.add_argument("--dir", help=DIR_HELP)
    create.set_defaults(func=_console_create)
    listing = console_cmds.add_parser("list", help="keys as the control panel shows them")
    listing.add_argument("--dir", help=DIR_HELP)
    listing.set_defaults(func=_console_list)
    agent = console_cmds.add_parser(
        "create-agent", help="make an agent (its API keys are then made through the API, or adopted)"
    )
    agent.add_argument("name", help="the agent's name")
    agent.add_argument("--dir", help=DIR_HELP)
    agent.set_defaults(func=_console_create_agent)
    agents = console_cmds.add_parser("agents", help="agents, with their uuids and endpoints")
    agents.add_argument("--dir", help=DIR_HELP)
    agents.set_defaults(func=_console_agents)


def _sandbox_serve(args: argparse.Namespace) -> int:
    from sandbox import emulator  # noqa: PLC0415 - loads the sandbox for its commands only

    return emulator.serve(args)


def _sandbox_up(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    directory = sandbox_dir(args)
    extra: list[str] = ["--create-mode", args.create_mode]
    for token in args.token or []:
        extra += ["--token", token]
    for token in args.read_only_token:
        extra += ["--read-only-token", token]
    if args.admin_token is not None:
        extra += ["--admin-token", args.admin_token]
    for account in args.account:
        extra += ["--account", account]
    extra += ["--rate-limit-per-minute", str(args.rate_limit_per_minute)]
    extra += ["--rate-limit-per-hour", str(args.rate_limit_per_hour)]
    extra += ["--rate-limit-headers", args.rate_limit_headers]
    extra += ["--rate-limit-minute-window", repr(args.rate_limit_minute_window)]
    extra += ["--rate-limit-hour-window", repr(args.rate_limit_hour_window)]
    info = launcher.up(directory, extra, port=args.port, vault=not args.no_vault, vault_ha=args.vault_ha)
    sys.stdout.write(info.exports(directory))
    kind = (
        f"OpenBao HA, {len(info.vault_nodes)} nodes behind a balancer" if info.vault_nodes else "OpenBao dev"
    )
    vault = f", Vault ({kind}) at {info.vault_addr}" if info.vault_addr else ""
    where = f" --dir {shlex.quote(args.dir)}" if args.dir is not None else ""
    print(
        f"sandbox running: DigitalOcean at {info.api_url}{vault}; "
        f"stop it with `gradient-keys sandbox down{where}`",
        file=sys.stderr,
    )
    return ExitCode.OK


def _sandbox_down(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    directory = sandbox_dir(args)
    stopped = launcher.down(directory)
    print("sandbox stopped" if stopped else f"no sandbox was running in {directory}", file=sys.stderr)
    return ExitCode.OK


def _sandbox_status(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    directory = sandbox_dir(args)
    info = launcher.running(directory)
    if info is None:
        print(f"no sandbox is running in {directory}", file=sys.stderr)
        return ExitCode.FAILED
    print(f"sandbox running at {info.api_url} (pid {info.pid})")
    return ExitCode.OK


def _console_create(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    reply = launcher.console(sandbox_dir(args), "POST", "/_sandbox/console/keys", {"name": args.name})
    info = reply["api_key_info"]
    print(f"{info['uuid']}  {info['name']}")
    if args.show_secret:
        print(f"secret (shown once): {info['secret_key']}")
    else:
        print(
            "secret not shown (--show-secret prints a new key's secret, once); like the control "
            "panel, the sandbox keeps no copy: `pulumi up` regenerates the key when it adopts it",
            file=sys.stderr,
        )
    return ExitCode.OK


def _console_list(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    reply = launcher.console(sandbox_dir(args), "GET", "/_sandbox/console/keys")
    print_table(reply["api_key_infos"], ("uuid", "name", "created_at"))
    return ExitCode.OK


def _console_create_agent(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    reply = launcher.console(sandbox_dir(args), "POST", "/_sandbox/console/agents", {"name": args.name})
    agent = reply["agent"]
    print(f"{agent['uuid']}  {agent['name']}  {agent['deployment']['url']}")
    return ExitCode.OK


def _console_agents(args: argparse.Namespace) -> int:
    from sandbox import launcher  # noqa: PLC0415 - loads the sandbox for its commands only

    reply = launcher.console(sandbox_dir(args), "GET", "/_sandbox/console/agents")
    rows = [{**agent, "endpoint": agent["deployment"]["url"]} for agent in reply["agents"]]
    print_table(rows, ("uuid", "name", "endpoint"))
    return ExitCode.OK
