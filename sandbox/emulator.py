"""`python -m sandbox.emulator`: run the sandbox in the foreground.

The first line on stdout is the base URL, printed once the server accepts connections, so a
caller can start it with `--port 0` and read where it landed. SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sandbox.server import CREATE_MODES, DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN, Emulator, EmulatorConfig

__all__ = ["add_arguments", "config_from_args", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8087, help="port, 0 for any free one (default 8087)")
    parser.add_argument(
        "--token",
        action="append",
        metavar="TOKEN",
        help=f"API token with every genai scope; repeatable (default {DEFAULT_TOKEN})",
    )
    parser.add_argument(
        "--read-only-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="API token with genai:read only (writes get 403); repeatable",
    )
    parser.add_argument(
        "--admin-token",
        default=DEFAULT_ADMIN_TOKEN,
        help=f"control-panel token (default {DEFAULT_ADMIN_TOKEN})",
    )
    parser.add_argument(
        "--create-mode",
        choices=CREATE_MODES,
        default="retired",
        help="retired: create answers 410 as DigitalOcean does today; legacy: 200 with the secret",
    )
    parser.add_argument("--rate-limit-per-minute", type=int, default=250, metavar="N", help="0 disables")
    parser.add_argument("--rate-limit-per-hour", type=int, default=5000, metavar="N", help="0 disables")
    parser.add_argument("--state", type=Path, metavar="FILE", help="keep keys in FILE across restarts")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve https with this certificate")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    parser.add_argument("--access-log", action="store_true", help="log each request line to stderr")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        tokens=tuple(args.token or [DEFAULT_TOKEN]),
        read_only_tokens=tuple(args.read_only_token),
        admin_token=args.admin_token,
        create_mode=args.create_mode,
        rate_limit_per_minute=args.rate_limit_per_minute,
        rate_limit_per_hour=args.rate_limit_per_hour,
        state_file=args.state,
        access_log=args.access_log,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def run(config: EmulatorConfig) -> int:
    try:
        emulator = Emulator(config)
    except (ValueError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run on another thread.
        threading.Thread(target=emulator.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(emulator.base_url, flush=True)
    emulator.serve_forever()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.emulator", description=__doc__)
    add_arguments(parser)
    return run(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
