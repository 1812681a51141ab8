"""The real things a campaign round runs against, and the consumer that watches them.

- The sandbox emulator (DigitalOcean's model-key API and the inference endpoint), in this process.
- `PersistentBao`: an OpenBao server with raft storage on a fixed loopback port. The dev server the
  other tiers use keeps everything in memory, so it cannot be stopped and started again; this one
  can be stopped (SIGTERM or SIGKILL), started again and unsealed, sealed, frozen with SIGSTOP.
- `Consumer`: threads that behave like the inference clients of docs/rotation.md (and like
  `python -m sandbox.consumer`, at its cadence: a Vault read every 0.2 s, a call every 0.05 s), but
  that keep their last key while Vault is unreachable, as a real client does. sandbox.consumer
  stops at the first failed Vault read, which a round that stops Vault would turn into noise.
- `Lab`: the above, plus running `gradient-keys` as a subprocess and stopping it by PID.

Every process started here is stopped by its PID, never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import hvac
import requests

from components.secret import Secret
from sandbox.openbao import OpenBaoServer, bao_binary, child_environment, open_private_log
from sandbox.server import Emulator, EmulatorConfig
from tests import inference_probe
from tests.live_consumer import INTERVAL, REFRESH

__all__ = ["REPO", "Consumer", "ConsumerCounts", "Lab", "PersistentBao", "Run", "works"]

REPO = Path(__file__).resolve().parents[2]
READY_SECONDS = 30.0
COMMAND_TIMEOUT = 240.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _health(address: str) -> int | None:
    try:
        return requests.get(f"{address}/v1/sys/health", timeout=1).status_code
    except requests.RequestException:
        return None


class PersistentBao:
    """`bao server -config` with raft storage: initialised once (one unseal key), then stoppable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.root_token = ""
        self._unseal_key = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.ca_cert: Path | None = None  # plain http on loopback
        (directory / "raft").mkdir(parents=True, exist_ok=True)
        cluster = _free_port()
        self.config = directory / "bao.hcl"
        self.config.write_text(
            f'storage "raft" {{\n  path = "{directory / "raft"}"\n  node_id = "campaign"\n'
            "  performance_multiplier = 1\n}\n"
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
            f'  cluster_address = "127.0.0.1:{cluster}"\n  tls_disable = true\n}}\n'
            f'api_addr = "{self.address}"\ncluster_addr = "http://127.0.0.1:{cluster}"\n'
        )

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the process; the first time, initialise it, unseal it and mount KV v2 at secret/."""
        self._spawn()
        first = not self.root_token
        self._wait_for({501} if first else {503}, "start")
        if first:
            reply = requests.put(
                f"{self.address}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=60
            )
            reply.raise_for_status()
            document = reply.json()
            self.root_token, self._unseal_key = document["root_token"], document["keys"][0]
        self.unseal()
        if first:
            self.root().sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
            deadline = time.monotonic() + READY_SECONDS
            while True:  # a new KV v2 mount answers 4xx until its upgrade finished
                try:
                    self.root().secrets.kv.v2.create_or_update_secret("campaign/ready", {"ok": "1"})
                    break
                except hvac.exceptions.VaultError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def _spawn(self) -> None:
        log = open_private_log(self.directory / "bao.log")
        try:
            self.process = subprocess.Popen(
                [str(bao_binary()), "server", f"-config={self.config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_environment({}),
            )
        finally:
            os.close(log)

    def _wait_for(self, statuses: set[int], what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"OpenBao exited during {what}; see {self.directory / 'bao.log'}")
            if _health(self.address) in statuses:
                return
            time.sleep(0.05)
        raise RuntimeError(f"OpenBao did not reach {sorted(statuses)} during {what}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the process (by PID); its data stays on disk."""
        self.thaw()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def seal(self) -> None:
        self.root().sys.seal()

    def unseal(self) -> None:
        requests.put(f"{self.address}/v1/sys/unseal", json={"key": self._unseal_key}, timeout=10)
        self._wait_for({200}, "unseal")

    def freeze(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen and self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    def restore(self) -> None:
        """Whatever a round did, leave it running, unsealed and answering."""
        self.thaw()
        if not self.running():
            self.start()
            return
        if _health(self.address) != 200:
            self.unseal()

    # -- clients ------------------------------------------------------------------------------
    def root(self, timeout: int = 10) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.root_token, timeout=timeout)

    def server(self) -> OpenBaoServer:
        """The shape tests/integration/rotation_env.py takes (address and root token)."""
        pid = self.process.pid if self.process is not None else 0
        return OpenBaoServer(self.address, self.root_token, pid)


def works(base_url: str, secret: str) -> bool:
    """Does the inference endpoint accept this key (`tests.inference_probe.works`)? Here an
    endpoint that cannot be reached counts as refusing it, as it does for a consumer."""
    try:
        return inference_probe.works(base_url, secret)
    except requests.RequestException:
        return False


@dataclass
class ConsumerCounts:
    calls: int = 0
    ok: int = 0
    failed: int = 0
    vault_reads: int = 0
    vault_errors: int = 0
    key_changes: int = 0
    failures_at: list[float] = field(default_factory=list)


class Consumer:
    """One thread per Vault path: read the key every REFRESH s, call chat completions every INTERVAL s."""

    def __init__(
        self,
        vault_address: str,
        token: str,
        inference_url: str,
        paths: list[str],
        ca_cert: Path | None = None,
    ) -> None:
        self.counts = {path: ConsumerCounts() for path in paths}
        self._verify: str | bool = str(ca_cert) if ca_cert else True
        self._stop = threading.Event()
        self._vault_address, self._token, self._inference = vault_address, token, inference_url
        self.started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._watch, args=(path,), name=f"consumer {path}", daemon=True)
            for path in paths
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, vault: hvac.Client, path: str) -> Secret:
        reply = vault.secrets.kv.v2.read_secret_version(
            path, mount_point="secret", raise_on_deleted_version=True
        )
        return Secret(str(reply["data"]["data"]["api_key"]))

    def _watch(self, path: str) -> None:
        counts = self.counts[path]
        vault = hvac.Client(url=self._vault_address, token=self._token, timeout=1, verify=self._verify)
        session = requests.Session()
        key: Secret | None = None
        last_read = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if key is None or now - last_read >= REFRESH:
                try:
                    fresh = self._read(vault, path)
                except Exception:
                    counts.vault_errors += 1
                else:
                    counts.vault_reads += 1
                    counts.key_changes += int(key is not None and fresh != key)
                    key = fresh
                last_read = now
            if key is None:
                self._stop.wait(INTERVAL)
                continue
            try:
                status = session.post(
                    f"{self._inference}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key.reveal()}"},
                    json={
                        "model": "llama3.3-70b-instruct",
                        "messages": [{"role": "user", "content": "ping"}],
                    },
                    timeout=5,
                ).status_code
            except requests.RequestException:
                status = 0
            counts.calls += 1
            if status == 200:
                counts.ok += 1
            else:
                counts.failed += 1
                counts.failures_at.append(round(time.monotonic() - self.started, 3))
            self._stop.wait(INTERVAL)
        session.close()

    def stop(self) -> dict[str, ConsumerCounts]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        return self.counts


@dataclass
class Run:
    """One `gradient-keys` invocation as the round saw it: never a secret (the command prints none)."""

    label: str
    args: tuple[str, ...]
    exit_code: int | None = None  # None: the round killed it
    killed_at: float | None = None
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    emergency_keys: tuple[str, ...] = ()
    recovery: bool = False  # the documented "rerun the same command", expected to exit 0

    @property
    def document(self) -> dict[str, Any]:
        text = self.stdout.strip()
        if not text.startswith("{"):
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


class Running:
    """A `gradient-keys` subprocess in flight."""

    def __init__(self, run: Run, process: subprocess.Popen[str]) -> None:
        self.run, self.process = run, process
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def kill(self) -> bool:
        """SIGKILL it (by PID) if it still runs; True when it was still running."""
        if self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGKILL)
        self.run.killed_at = round(self.elapsed(), 3)
        return True

    def wait(self, timeout: float = COMMAND_TIMEOUT) -> Run:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            err += f"\n[campaign] killed after {timeout:.0f}s: the command hung"
        self.run.seconds = round(self.elapsed(), 3)
        self.run.stdout, self.run.stderr = out, err
        if self.run.killed_at is None:
            self.run.exit_code = self.process.returncode
        return self.run


# The same command with DigitalOcean's read timeout shortened, so a request that outlives the client
# (a late commit) costs seconds instead of the default minute. Only that one setting differs.
_SHORT_TIMEOUT = """
import dataclasses, sys
from components import do_keys
_from_env = do_keys.ClientSettings.from_env.__func__
def _short(cls, *args, **kwargs):
    return dataclasses.replace(_from_env(cls, *args, **kwargs), read_timeout=float(sys.argv[1]))
do_keys.ClientSettings.from_env = classmethod(_short)
from components.cli import main
sys.exit(main(sys.argv[2:]))
"""


class CampaignVault(Protocol):
    """What a round needs of its Vault: PersistentBao, or tests/ha's cluster behind a balancer."""

    @property
    def address(self) -> str: ...
    @property
    def root_token(self) -> str: ...
    @property
    def ca_cert(self) -> Path | None: ...
    def start(self) -> None: ...
    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None: ...
    def seal(self) -> None: ...
    def freeze(self) -> None: ...
    def restore(self) -> None: ...
    def root(self, timeout: int = 10) -> hvac.Client: ...
    def server(self) -> OpenBaoServer: ...


class Lab:
    """The emulator, a persistent OpenBao, a scratch directory; reused by every round of a session."""

    def __init__(
        self,
        directory: Path | None = None,
        vault: Callable[[Path], CampaignVault] | None = None,
    ) -> None:
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="gradient-keys-campaign-"))
        self.emulator = Emulator(EmulatorConfig(rate_limit_per_minute=0, rate_limit_per_hour=0))
        # Rounds kill clients mid-request on purpose: the broken pipes that follow are expected, not news
        # (socketserver would print a traceback for each).
        self.emulator._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.bao: CampaignVault = (vault or PersistentBao)(self.directory / "openbao")
        self.clean_seconds: float | None = None  # a clean `rotate --all` of the standard stack
        self.startup_seconds = 0.0  # of which the interpreter starting and importing the tool
        self.rounds_played = 0
        self._running: list[Running] = []

    def __enter__(self) -> Lab:
        self.emulator.start()
        try:
            self.bao.start()
        except BaseException:
            self.emulator.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_commands()
        self.bao.stop()
        self.emulator.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def stop_commands(self) -> None:
        """Kill (by PID) and reap any command a round left running."""
        for running in list(self._running):
            running.kill()
            with contextlib.suppress(Exception):
                running.process.communicate(timeout=10)
            self._running.remove(running)

    def reset(self) -> None:
        """Between rounds: no command running, no faults, no keys, no stats; OpenBao up and unsealed."""
        self.stop_commands()
        self.emulator.reset()
        self.bao.restore()

    def root(self, timeout: int = 10) -> hvac.Client:
        return self.bao.root(timeout)

    # -- the command --------------------------------------------------------------------------
    def start(
        self,
        label: str,
        stack_file: Path,
        env: dict[str, str],
        *args: str,
        verb: str = "rotate",
        read_timeout: float | None = None,
        recovery: bool = False,
    ) -> Running:
        """`gradient-keys VERB --config STACK --format json ARGS` as a subprocess."""
        # The campaign's rotations are jobs that accepted the outage of its in-place keys.
        yes = ["--yes"] if verb == "rotate" else []
        argv = [verb, "--config", str(stack_file), "--format", "json", *yes, *args]
        if read_timeout is None:
            command = [sys.executable, "-m", "components.cli", *argv]
        else:
            command = [sys.executable, "-c", _SHORT_TIMEOUT, str(read_timeout), *argv]
        emergency = tuple(a for a in args if not a.startswith("-")) if "--emergency" in args else ()
        run = Run(label, tuple(args), emergency_keys=emergency, recovery=recovery)
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running = Running(run, process)
        self._running.append(running)
        return running

    def finish(self, running: Running, timeout: float = COMMAND_TIMEOUT) -> Run:
        run = running.wait(timeout)
        self._running.remove(running)
        return run
