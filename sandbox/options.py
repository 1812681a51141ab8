"""The emulator's command-line options and documented defaults, apart from the emulator itself:
`gradient-keys` builds its parser from them without loading the HTTP server (every command
starts faster, and only `sandbox up|serve` load the emulator)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = [
    "ADMIN_TOKEN_ENV",
    "CREATE_MODES",
    "DEFAULT_ADMIN_TOKEN",
    "DEFAULT_TOKEN",
    "HEADER_MODES",
    "READ_ONLY_TOKEN_ENV",
    "TOKEN_ENV",
    "add_arguments",
]

DEFAULT_TOKEN = "dop_v1_gradient_keys_sandbox"  # noqa: S105 - the documented sandbox token
DEFAULT_ADMIN_TOKEN = "gradient-keys-sandbox-admin"  # noqa: S105 - documented sandbox value
CREATE_MODES = ("retired", "legacy")
TOKEN_ENV = "GRADIENT_KEYS_SANDBOX_TOKEN"  # noqa: S105 - a variable's name, not a token
READ_ONLY_TOKEN_ENV = "GRADIENT_KEYS_SANDBOX_READ_ONLY_TOKEN"  # noqa: S105 - a variable's name
ACCOUNTS_ENV = "GRADIENT_KEYS_SANDBOX_ACCOUNTS"  # "NAME=TOKEN ...": the other accounts
ADMIN_TOKEN_ENV = "GRADIENT_KEYS_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - a variable's name


# What the emulator's ratelimit-* headers report (sandbox/ratelimit.py): DigitalOcean's hourly
# quota, or the minute budget the sandbox reported before.
HEADER_MODES = ("documented", "minute")

DEFAULT_PORT = 8087
# `sandbox up` runs in the background: its port is the last one it had when that is free (exported
# URLs stay valid across down/up), else any free one.
BACKGROUND_PORT_HELP = "port (default: the port it had last time when free, else any free one)"


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 1 to 65535, or 0 for any free one")
    return int(text)


def _window(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window: use a number of seconds above 0")
    return value


def _limit(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a limit: use a whole number, 0 to disable")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser, *, background: bool = False) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    if background:
        parser.add_argument("--port", type=_port, default=0, help=BACKGROUND_PORT_HELP)
    else:
        parser.add_argument(
            "--port",
            type=_port,
            default=DEFAULT_PORT,
            help=f"port, 0 for any free one (default {DEFAULT_PORT})",
        )
    parser.add_argument(
        "--token",
        action="append",
        metavar="TOKEN",
        help=f"API token with every genai scope; repeatable (default ${TOKEN_ENV}, else {DEFAULT_TOKEN})",
    )
    parser.add_argument(
        "--read-only-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help=f"API token with genai:read only (writes get 403); repeatable (default ${READ_ONLY_TOKEN_ENV})",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME=TOKEN",
        help="another DigitalOcean account (team), with a key table, agents and rate budget of its own, "
        f"reached with TOKEN; repeatable (default ${ACCOUNTS_ENV}, space-separated NAME=TOKEN)",
    )
    parser.add_argument(
        "--admin-token",
        help=f"control-panel token (default ${ADMIN_TOKEN_ENV}, else {DEFAULT_ADMIN_TOKEN})",
    )
    parser.add_argument(
        "--create-mode",
        choices=CREATE_MODES,
        default="retired",
        help="retired (the default): create answers 410 as DigitalOcean does today; legacy: 200 with "
        "the secret",
    )
    parser.add_argument(
        "--rate-limit-per-minute", type=_limit, default=250, metavar="N", help="default 250; 0 disables"
    )
    parser.add_argument(
        "--rate-limit-per-hour", type=_limit, default=5000, metavar="N", help="default 5000; 0 disables"
    )
    parser.add_argument(
        "--rate-limit-headers",
        choices=HEADER_MODES,
        default="documented",
        help="documented (the default), as DigitalOcean: ratelimit-* report the hourly quota and the "
        "burst limit shows only as 429 + retry-after; minute: ratelimit-remaining is the tighter of "
        "the hourly and minute budgets (the sandbox's earlier headers)",
    )
    parser.add_argument(
        "--rate-limit-minute-window",
        type=_window,
        default=60.0,
        metavar="SECONDS",
        help="length of the burst window, for tests (default 60; below it retry-after has milliseconds)",
    )
    parser.add_argument(
        "--rate-limit-hour-window",
        type=_window,
        default=3600.0,
        metavar="SECONDS",
        help="length of the hourly window, for tests (default 3600)",
    )
    parser.add_argument("--state", type=Path, metavar="FILE", help="keep keys in FILE across restarts")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve https with this certificate")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    parser.add_argument("--access-log", action="store_true", help="log each request line to stderr")
