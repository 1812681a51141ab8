"""`gradient-keys keys list [--agent UUID]`: the account's model access keys, or an agent's API keys."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from components.commands.common import Commands, Parser, format_option, print_table
from components.do_keys import ClientSettings, ModelKeys
from components.errors import ExitCode
from components.key_collection import MODEL_KEYS, KeyCollection

__all__ = ["add"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def add(commands: Commands[Parser]) -> None:
    keys = commands.add_parser("keys", help="inspect DigitalOcean model access keys and agent API keys")
    keys_cmds = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    key_list = keys_cmds.add_parser("list", help="list every key (per_page 200, all pages)")
    key_list.add_argument(
        "--agent",
        metavar="UUID",
        type=_agent_uuid,
        help="list this agent's API keys instead of the model access keys",
    )
    format_option(key_list)
    key_list.set_defaults(func=_keys_list)


def _agent_uuid(text: str) -> str:
    if not _UUID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "is not an agent uuid (like 11efb7d6-cdb5-6388-bf8f-4e013e2ddde4; `gradient-keys sandbox console "
            "agents`, or the agent's page in the control panel, shows it)"
        )
    return text


def _keys_list(args: argparse.Namespace) -> int:
    collection = KeyCollection(args.agent) if args.agent else MODEL_KEYS
    with ModelKeys(ClientSettings.from_env(os.environ), collection=collection) as client:
        print(f"endpoints: DigitalOcean API {client.settings.api_url}", file=sys.stderr)
        keys = client.list_all()
        rows = [
            {"uuid": k.uuid, "name": k.name, "created_at": k.created_at, "created_by": k.created_by}
            for k in keys
        ]
        if args.format == "json":
            print(json.dumps({"keys": rows, "total": len(rows), "requests": client.requests_made}, indent=2))
        else:
            print_table(rows, ("uuid", "name", "created_at"))
            print(f"{len(rows)} key(s), {client.requests_made} request(s)", file=sys.stderr)
    return ExitCode.OK
