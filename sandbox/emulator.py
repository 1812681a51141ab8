"""`python -m sandbox.emulator`: run the sandbox in the foreground.

The first line on stdout is the base URL, printed once the server accepts connections, so a
caller can start it with `--port 0` and read where it landed. SIGTERM or Ctrl-C stops it.

Tokens are better given by environment than by flag: a command line is readable by every user of
the machine (`ps`), a process's environment only by its owner. Without `--token`,
`--read-only-token` or `--admin-token`, the emulator reads GRADIENT_KEYS_SANDBOX_TOKEN,
GRADIENT_KEYS_SANDBOX_READ_ONLY_TOKEN (each a whitespace-separated list) and
GRADIENT_KEYS_SANDBOX_ADMIN_TOKEN; a flag, when given, wins. `gradient-keys sandbox up` reads
its tokens the same way and hands them to its emulator by these variables.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from sandbox.options import ACCOUNTS_ENV, ADMIN_TOKEN_ENV, READ_ONLY_TOKEN_ENV, TOKEN_ENV, add_arguments
from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN, Emulator, EmulatorConfig

__all__ = [
    "ADMIN_TOKEN_ENV",
    "READ_ONLY_TOKEN_ENV",
    "TOKEN_ENV",
    "SandboxTokens",
    "add_arguments",
    "config_from_args",
    "main",
    "resolve_tokens",
    "serve",
]


@dataclass(frozen=True)
class SandboxTokens:
    """The emulator's tokens: throwaways for the sandbox, still kept out of reprs."""

    tokens: tuple[str, ...] = field(repr=False)
    read_only_tokens: tuple[str, ...] = field(repr=False)
    admin_token: str = field(repr=False)
    accounts: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (name, token) of the others

    def environment(self) -> dict[str, str]:
        """The variables that hand these tokens to `python -m sandbox.emulator`."""
        named = [
            *(("--token", t) for t in self.tokens),
            *(("--read-only-token", t) for t in self.read_only_tokens),
            ("--admin-token", self.admin_token),
            *(("--account", token) for _name, token in self.accounts),
        ]
        for option, token in named:
            if not token or any(character.isspace() for character in token):
                # The variables are whitespace-separated lists, and a bearer token has no
                # whitespace (RFC 6750 section 2.1), so such a token could never authenticate.
                raise ValueError(f"{option}: a sandbox token must be non-empty and contain no whitespace")
        environment = {TOKEN_ENV: " ".join(self.tokens), ADMIN_TOKEN_ENV: self.admin_token}
        if self.read_only_tokens:
            environment[READ_ONLY_TOKEN_ENV] = " ".join(self.read_only_tokens)
        if self.accounts:
            environment[ACCOUNTS_ENV] = " ".join(f"{name}={token}" for name, token in self.accounts)
        return environment


def resolve_tokens(
    tokens: Sequence[str] | None,
    read_only_tokens: Sequence[str] | None,
    admin_token: str | None,
    environ: Mapping[str, str],
    accounts: Sequence[str] | None = None,
) -> SandboxTokens:
    """Each token from its flags when given, else from its variable, else the built-in default."""
    if admin_token is None:
        admin_token = environ.get(ADMIN_TOKEN_ENV) or DEFAULT_ADMIN_TOKEN
    return SandboxTokens(
        tokens=tuple(tokens or environ.get(TOKEN_ENV, "").split() or [DEFAULT_TOKEN]),
        read_only_tokens=tuple(read_only_tokens or environ.get(READ_ONLY_TOKEN_ENV, "").split()),
        admin_token=admin_token,
        accounts=tuple(_account(a) for a in accounts or environ.get(ACCOUNTS_ENV, "").split()),
    )


def _account(text: str) -> tuple[str, str]:
    """NAME=TOKEN; a problem names the account, never the token."""
    name, equals, token = text.partition("=")
    if not equals or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name) or not token:
        shown = name if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name) else "an account"
        raise ValueError(f"--account for {shown}: write NAME=TOKEN, NAME lowercase letters, digits and '-'")
    return name, token


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> EmulatorConfig:
    """The configuration the flags ask for; tokens not given by flag come from `environ`."""
    tokens = resolve_tokens(
        args.token,
        args.read_only_token,
        args.admin_token,
        os.environ if environ is None else environ,
        args.account,
    )
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        tokens=tokens.tokens,
        read_only_tokens=tokens.read_only_tokens,
        admin_token=tokens.admin_token,
        accounts=tokens.accounts,
        create_mode=args.create_mode,
        rate_limit_per_minute=args.rate_limit_per_minute,
        rate_limit_per_hour=args.rate_limit_per_hour,
        rate_limit_headers=args.rate_limit_headers,
        minute_seconds=args.rate_limit_minute_window,
        hour_seconds=args.rate_limit_hour_window,
        state_file=args.state,
        access_log=args.access_log,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def run(config: EmulatorConfig) -> int:
    try:
        emulator = Emulator(config)
    except OSError as exc:
        print(f"sandbox: {_start_failure(exc, config)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run on another thread.
        threading.Thread(target=emulator.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(emulator.base_url, flush=True)
    emulator.serve_forever()
    emulator.store.close()  # before exit, which would not wait for stop()'s thread to do it
    return 0


def _start_failure(exc: OSError, config: EmulatorConfig) -> str:
    """Why the server could not listen, in words a person can act on."""
    where = f"{config.host}:{config.port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {config.port} is taken ({where} is in use); pick another with --port N, "
            "or --port 0 for any free one"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where}; use a port above 1023, or --port 0 for any free one"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{config.host} is not an address of this machine; pass --host 127.0.0.1"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.emulator", description=__doc__)
    add_arguments(parser)
    return serve(parser.parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Run the sandbox the flags describe; a bad flag or variable is exit 2, said on stderr."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
