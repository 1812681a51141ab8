"""`gradient-keys keys list`: the account's model access keys."""

from __future__ import annotations

import argparse
import json
import os
import sys

from components.commands.common import Commands, Parser, format_option, print_table
from components.do_keys import ClientSettings, ModelKeys
from components.errors import ExitCode

__all__ = ["add"]


def add(commands: Commands[Parser]) -> None:
    keys = commands.add_parser("keys", help="inspect DigitalOcean model access keys")
    keys_cmds = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    key_list = keys_cmds.add_parser("list", help="list every key (per_page 200, all pages)")
    format_option(key_list)
    key_list.set_defaults(func=_keys_list)


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
            print_table(rows, ("uuid", "name", "created_at"))
            print(f"{len(rows)} key(s), {client.requests_made} request(s)", file=sys.stderr)
    return ExitCode.OK
