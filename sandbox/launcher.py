"""Run the sandbox in the background for `gradient-keys sandbox up/down/console`.

Two processes: the DigitalOcean emulator and a real OpenBao dev server (a local Vault); with
`--vault-ha`, a 3-node OpenBao cluster with TLS behind a balancer instead (sandbox/vault_ha.py). The state
directory (default `.gradient-keys-sandbox/`) holds `sandbox.json` (pids, URLs and the sandbox's
own throwaway tokens, never a key secret), `emulator.log`, `openbao.log` and `keys.db` (the key
table, hashes only, SQLite; a `keys.json` left by an older version is imported into it once and
kept as `keys.json.migrated`). Keys survive `down` and `up`; the dev Vault keeps its data in
memory, so what was written to it is gone after `down`.

The children get a minimal environment (`child_environment`: none of the caller's credentials) and
the emulator gets its tokens by environment, not on its command line, which `ps` shows to all.

`sandbox.json` names each process by PID and creation time; `down` stops only a process those
still name (`sandbox.processes`), and forgets the record only once each one is confirmed gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import requests

from sandbox.emulator import resolve_tokens
from sandbox.keydb import migrate_json
from sandbox.openbao import (
    OpenBaoError,
    OpenBaoServer,
    bao_process,
    child_environment,
    open_private_log,
    start_dev_server,
)
from sandbox.processes import Launched, Unconfirmed, created_at, stop
from sandbox.vault_ha import balancer_process, start_ha

__all__ = ["DEFAULT_DIR", "SandboxError", "SandboxInfo", "console", "down", "running", "up"]

DEFAULT_DIR = Path(".gradient-keys-sandbox")
STATE_FILE = "keys.db"
LEGACY_STATE_FILE = "keys.json"  # the key table before it was SQLite (format version 1)
START_DEADLINE_SECONDS = 15.0
TOKEN_FLAGS = ("--token", "--read-only-token", "--admin-token", "--account")
# Beyond the common allow-list, the emulator needs what lets its interpreter import the sandbox.
EMULATOR_INHERITS = ("PYTHONPATH", "PYTHONHOME")


class SandboxError(RuntimeError):
    pass


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    api_url: str
    token: str
    admin_token: str
    vault_pid: int | None = None
    vault_addr: str | None = None
    vault_token: str | None = None
    # Creation times (psutil), which tell our processes from later ones given the same PIDs.
    created_at: float | None = None
    vault_created_at: float | None = None
    # `up --vault-ha`: the CA clients trust, and the cluster's processes ((pid, creation time) each)
    vault_ca_cert: str | None = None
    vault_nodes: tuple[tuple[int, float | None], ...] = ()
    vault_balancer: tuple[int, float | None] | None = None

    def __post_init__(self) -> None:
        # Read back from sandbox.json, these come as JSON lists: the same record, the same value.
        object.__setattr__(self, "vault_nodes", tuple((int(p), made) for p, made in self.vault_nodes))
        if self.vault_balancer is not None:
            pid, made = self.vault_balancer
            object.__setattr__(self, "vault_balancer", (int(pid), made))

    def exports(self, directory: Path) -> str:
        """Shell lines that point gradient-keys (and pydo and Vault users) at this sandbox."""
        lines = [
            f"export DIGITALOCEAN_API_URL={shlex.quote(self.api_url)}",
            f"export DIGITALOCEAN_TOKEN={shlex.quote(self.token)}",
            # The sandbox serves the inference surface too: rotations verify new keys against it.
            f"export DIGITALOCEAN_INFERENCE_URL={shlex.quote(self.api_url)}",
        ]
        if self.vault_addr and self.vault_token:
            lines += [
                f"export VAULT_ADDR={shlex.quote(self.vault_addr)}",
                f"export VAULT_TOKEN={shlex.quote(self.vault_token)}",
            ]
        if self.vault_ca_cert:
            lines.append(f"export VAULT_CACERT={shlex.quote(self.vault_ca_cert)}")
        lines.append(f"export GRADIENT_KEYS_SANDBOX_DIR={shlex.quote(str(directory.resolve()))}")
        return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _info_file(directory: Path) -> Path:
    return directory / "sandbox.json"


def _is_emulator(command: Sequence[str]) -> bool:
    """Is this command line `python -m sandbox.emulator ...`, as `_start` starts it?"""
    return list(command[1:3]) == ["-m", "sandbox.emulator"]


def _emulator(pid: int, started: float | None) -> Launched:
    return Launched("the emulator", pid, started, _is_emulator)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/_sandbox/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def running(directory: Path) -> SandboxInfo | None:
    path = _info_file(directory)
    if not path.exists():
        return None
    try:
        info = SandboxInfo(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None
    if _emulator(info.pid, info.created_at).running() and _healthy(info.api_url):
        return info
    return None


def up(
    directory: Path,
    extra_args: list[str] | None = None,
    port: int = 0,
    vault: bool = True,
    vault_ha: bool = False,
) -> SandboxInfo:
    """Start the emulator and OpenBao in the background (or find the ones already running); with
    `vault_ha`, a 3-node OpenBao cluster behind a balancer instead of the dev server."""
    directory = directory.resolve()
    existing = running(directory)
    if existing is not None:
        if vault and existing.vault_addr and bool(existing.vault_nodes) != vault_ha:
            have, want = ("an HA", "the dev server") if existing.vault_nodes else ("a dev", "an HA cluster")
            raise SandboxError(
                f"a sandbox with {have} Vault is already running in {directory}; stop it with "
                f"`gradient-keys sandbox down` first to get {want}"
            )
        return existing
    # What an older record still names (an emulator that stopped answering, the OpenBao of an
    # emulator that died) is stopped first: the new record would leave it running, unnamed.
    down(directory)
    _prepare_directory(directory)
    info = _start_emulator(directory, extra_args, port)
    if not vault:
        return info
    try:
        if vault_ha:
            return _with_ha(directory, info)
        server = _start_vault(directory)
    except OpenBaoError as exc:
        outcome = stop([_emulator(info.pid, info.created_at)])
        if outcome.confirmed:
            _info_file(directory).unlink(missing_ok=True)
        left = f"; {_not_stopped(outcome.unconfirmed, directory)}" if outcome.unconfirmed else ""
        raise SandboxError(f"{exc} (or start the sandbox without Vault: --no-vault){left}") from None
    info = replace(
        info,
        vault_pid=server.pid,
        vault_addr=server.address,
        vault_token=server.root_token,
        vault_created_at=server.created_at,
    )
    _write_private(_info_file(directory), json.dumps(asdict(info)))
    return info


def _with_ha(directory: Path, info: SandboxInfo) -> SandboxInfo:
    ha = start_ha(directory)
    info = replace(
        info,
        vault_addr=ha.address,
        vault_token=ha.root_token,
        vault_ca_cert=str(ha.ca_cert),
        vault_nodes=ha.nodes,
        vault_balancer=ha.balancer,
    )
    _write_private(_info_file(directory), json.dumps(asdict(info)))
    return info


def _prepare_directory(directory: Path) -> None:
    """Create what is missing as 0700; leave an existing directory's mode alone, but say so when
    others can read or write it: the files in it hold the sandbox's tokens (each file is 0600,
    and OpenBao's log prints its root token)."""
    missing = [path for path in (directory, *directory.parents) if not path.exists()]
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by someone else meanwhile: theirs, so its mode is theirs too
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    if not directory.is_dir():
        raise SandboxError(f"{directory} is not a directory: pick another with --dir")
    if directory not in missing:
        mode = directory.stat().st_mode & 0o777
        if mode & 0o077:
            print(
                f"gradient-keys: warning: {directory} is open to other users (mode {mode:04o}) and "
                "the sandbox keeps its tokens there; its mode is left as it is, make it private with "
                f"`chmod 700 {shlex.quote(str(directory))}`",
                file=sys.stderr,
            )


def _start_vault(directory: Path) -> OpenBaoServer:
    """OpenBao on its last port with its last root token when possible, so exports stay valid."""
    remembered = directory / "vault.json"
    last: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        last = json.loads(remembered.read_text())
    token = last.get("root_token") if isinstance(last.get("root_token"), str) else None
    server: OpenBaoServer | None = None
    if isinstance(last.get("port"), int):
        with contextlib.suppress(OpenBaoError):
            server = start_dev_server(last["port"], token, directory / "openbao.log", detach=True)
    if server is None:
        server = start_dev_server(0, token, directory / "openbao.log", detach=True)
    port = int(server.address.rsplit(":", 1)[1])
    _write_private(remembered, json.dumps({"port": port, "root_token": server.root_token}))
    return server


def _start_emulator(directory: Path, extra_args: list[str] | None, port: int) -> SandboxInfo:
    port_file = directory / "last-port"
    if port == 0 and port_file.exists():
        # Same port as last time when it is free, so exported URLs stay valid across down/up.
        last = port_file.read_text().strip()
        if last.isdigit():
            try:
                return _start(directory, extra_args, int(last))
            except SandboxError:
                pass
    info = _start(directory, extra_args, port)
    _write_private(port_file, info.api_url.rsplit(":", 1)[1])
    return info


def _last_words(log_path: Path) -> str:
    """The emulator's own reason for stopping: the last line it wrote (`sandbox: ...`)."""
    with contextlib.suppress(OSError):
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1].removeprefix("sandbox: ").strip()[:300]
    return "it exited without a word"


def _state_file(directory: Path) -> Path:
    """The key table, imported from an older version's `keys.json` the first time there is none."""
    state, legacy = directory / STATE_FILE, directory / LEGACY_STATE_FILE
    if legacy.exists() and not state.exists():
        try:
            migrate_json(legacy, state)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
    return state


def _start(directory: Path, extra_args: list[str] | None, port: int) -> SandboxInfo:
    log_path = directory / "emulator.log"
    options, flags = _split_tokens(extra_args or [])
    admin_flags = flags["--admin-token"]
    try:
        tokens = resolve_tokens(
            flags["--token"],
            flags["--read-only-token"],
            admin_flags[-1] if admin_flags else None,
            os.environ,
            flags["--account"],
        )
        secrets = tokens.environment()
    except ValueError as exc:
        raise SandboxError(str(exc)) from None
    args = [
        sys.executable,
        "-m",
        "sandbox.emulator",
        "--port",
        str(port),
        "--state",
        str(_state_file(directory)),
        *options,
    ]
    log = open_private_log(log_path)
    try:
        # A session of its own, so the sandbox outlives the shell command that started it.
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
            env=child_environment(secrets, inherit=EMULATOR_INHERITS),
        )
    finally:
        os.close(log)
    launched = _emulator(process.pid, created_at(process.pid))
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    url = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(f"the sandbox did not start: {_last_words(log_path)} (its log: {log_path})")
        first = log_path.read_text().splitlines()
        if first and first[0].startswith(("http://", "https://")):
            url = first[0].strip()
            break
        time.sleep(0.05)
    if not url:
        outcome = stop([launched])
        left = f"; {_not_stopped(outcome.unconfirmed, directory)}" if outcome.unconfirmed else ""
        raise SandboxError(
            f"the sandbox did not start within {START_DEADLINE_SECONDS:.0f}s; see {log_path}{left}"
        )
    info = SandboxInfo(
        pid=process.pid,
        api_url=url,
        token=tokens.tokens[-1],
        admin_token=tokens.admin_token,
        created_at=launched.created_at,
    )
    _write_private(_info_file(directory), json.dumps(asdict(info)))
    return info


def _split_tokens(args: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Take the token flags (`--token X` or `--token=X`) out of the emulator's options."""
    options: list[str] = []
    tokens: dict[str, list[str]] = {flag: [] for flag in TOKEN_FLAGS}
    remaining = iter(args)
    for arg in remaining:
        flag, equals, value = arg.partition("=")
        if flag not in tokens:
            options.append(arg)
            continue
        if not equals:
            following = next(remaining, None)
            if following is None:
                raise SandboxError(f"{flag} needs a value")
            value = following
        tokens[flag].append(value)
    return options, tokens


def down(directory: Path, timeout: float = 10.0) -> bool:
    """Stop the background sandbox (emulator and OpenBao) by PID, then forget it. False when none
    was running.

    A recorded PID that names another process now is left alone. The record goes only once each
    process it names is confirmed gone; when one may still run, SandboxError says which and what
    to do, and the record stays so that `down` can be run again.
    """
    directory = directory.resolve()
    path = _info_file(directory)
    if not path.exists():
        return False
    launched = _recorded(path)
    if launched is None:
        path.unlink()
        return False
    outcome = stop(launched, timeout)
    if not outcome.confirmed:
        raise SandboxError(_not_stopped(outcome.unconfirmed, directory))
    path.unlink()
    return bool(outcome.stopped)


def _recorded(path: Path) -> list[Launched] | None:
    """The processes a record names; None when it is unreadable. Tolerant of keys it does not know,
    and of records older than the creation times."""
    try:
        recorded = json.loads(path.read_text())
        launched = [_emulator(int(recorded["pid"]), _time(recorded.get("created_at")))]
        if recorded.get("vault_pid"):
            launched.append(bao_process(int(recorded["vault_pid"]), _time(recorded.get("vault_created_at"))))
        for pid, made in recorded.get("vault_nodes") or ():
            launched.append(bao_process(int(pid), _time(made)))
        if recorded.get("vault_balancer"):
            pid, made = recorded["vault_balancer"]
            launched.append(balancer_process(int(pid), _time(made)))
    except (ValueError, KeyError, TypeError):
        return None
    return launched


def _time(value: Any) -> float | None:
    return None if value is None else float(value)


def _not_stopped(unconfirmed: Sequence[Unconfirmed], directory: Path) -> str:
    """Which processes may still run, and what to do about them."""
    what = "; ".join(str(item) for item in unconfirmed)
    pids = [str(item.launched.pid) for item in unconfirmed]
    return (
        f"could not confirm the sandbox stopped: {what}. Its record {_info_file(directory)} is kept. "
        f"See what runs there with `ps -p {','.join(pids)}`, stop it yourself "
        f"(`kill -KILL {' '.join(pids)}`), then run "
        f"`gradient-keys sandbox down --dir {shlex.quote(str(directory))}` again to forget it"
    )


def console(directory: Path, method: str, path: str, body: Any = None) -> Any:
    """Call the control panel of the running sandbox as its admin."""
    info = running(directory.resolve())
    if info is None:
        raise SandboxError(
            f"no sandbox is running in {directory}: start one with `gradient-keys sandbox up` "
            "(or pass the --dir it was started with)"
        )
    response = requests.request(
        method,
        f"{info.api_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {info.admin_token}"},
        timeout=30,
    )
    payload = response.json()
    if response.status_code >= 400:
        raise SandboxError(f"control panel refused {method} {path}: {payload.get('message')}")
    return payload
