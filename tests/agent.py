"""A real `bao agent` (OpenBao's Vault-Agent-compatible agent) for tests, run with the consumer
example's configuration (examples/agent/agent.hcl) in a private working directory, stopped by PID.

Credentials never go on the agent's command line, which any user may read (`ps`,
/proc/PID/cmdline), nor in its environment: the AppRole role and secret ids, or a token, are files
of mode 0600 in its working directory (mode 0700), where the configuration names them. Its
environment is `sandbox.openbao.child_environment` plus the Vault address (and CA, namespace) only.

    config = example_config(render_interval="1s", secret_path="secret/data/tests/abc", token_auth=True)
    with start_agent(config, server.address, tmp_path / "agent", token=server.root_token) as agent:
        agent.key_file.read_text()   # rendered; stopped by PID on leaving the block
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.openbao import bao_binary, child_environment, open_private_log
from sandbox.processes import Launched, created_at, stop

__all__ = ["EXAMPLE_CONFIG", "Agent", "AgentError", "example_config", "start_agent", "write_private"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "examples" / "agent" / "agent.hcl"
KEY_FILE = "chatbot.key"  # the example's template destination, relative to the working directory
# What example_config replaces in the example, each found exactly once there.
EXAMPLE_SECRET_PATH = "secret/data/gradient/prod/apps/chatbot"
EXAMPLE_INTERVAL = 'static_secret_render_interval = "1m"'
EXAMPLE_AUTH_START = '  method "approle" {'
TOKEN_FILE_AUTH = """  method "token_file" {
    config = {
      token_file_path = "vault-token"
    }
  }
"""
RENDER_DEADLINE_SECONDS = 30.0


class AgentError(RuntimeError):
    """The agent could not be configured, started or stopped; the message says which and where."""


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise AgentError(f"{EXAMPLE_CONFIG.name} no longer holds {old!r} exactly once: update tests/agent.py")
    return text.replace(old, new)


def example_config(
    *, render_interval: str | None = None, secret_path: str | None = None, token_auth: bool = False
) -> str:
    """examples/agent/agent.hcl, changed only where asked: the render interval (`"1s"`), the KV v2
    data path the template reads (`secret/data/<prefix>/<vault_path>`), and, with `token_auth`,
    the AppRole login replaced by a token read from the file `vault-token`."""
    text = EXAMPLE_CONFIG.read_text()
    if render_interval is not None:
        text = _replace_once(text, EXAMPLE_INTERVAL, f'static_secret_render_interval = "{render_interval}"')
    if secret_path is not None:
        text = _replace_once(text, f'\\"{EXAMPLE_SECRET_PATH}\\"', f'\\"{secret_path}\\"')
    if token_auth:
        start = text.index(EXAMPLE_AUTH_START)
        end = text.index("\n  }\n", start) + len("\n  }\n")
        text = text[:start] + TOKEN_FILE_AUTH + text[end:]
    return text


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path`, readable by its owner only (0600 whatever the umask)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, text.encode())
    finally:
        os.close(descriptor)
    return path


def _is_bao_agent(command: Sequence[str]) -> bool:
    return bool(command) and Path(command[0]).name == "bao" and list(command[1:2]) == ["agent"]


@dataclass
class Agent:
    """A running `bao agent`, found again by PID and creation time, as the sandbox's servers are."""

    workdir: Path
    pid: int
    created_at: float | None
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def key_file(self) -> Path:
        """Where the example's template renders the key."""
        return self.workdir / KEY_FILE

    def running(self) -> bool:
        return self._launched().running()

    def _launched(self) -> Launched:
        return Launched("bao agent", self.pid, self.created_at, _is_bao_agent)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`, while the PID still names this agent."""
        outcome = stop([self._launched()], timeout)
        if self._process is not None:
            self._process.wait(timeout=timeout)  # reap it: a zombie would outlive the test
        if not outcome.confirmed:
            raise AgentError(f"could not stop {outcome.unconfirmed[0]}; stop it with `kill -KILL {self.pid}`")

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_agent(
    config: str,
    vault_address: str,
    workdir: Path,
    *,
    role_id: str | None = None,
    secret_id: str | None = None,
    token: str | None = None,
    ca_cert: Path | None = None,
    namespace: str | None = None,
    wait_for_render: bool = True,
) -> Agent:
    """Start `bao agent -config=agent.hcl` in `workdir` (created 0700) with `config` there, and the
    credentials it names as 0600 files: `role-id` and `secret-id` (AppRole), or `vault-token`.

    With `wait_for_render`, returns once the key file is rendered, and raises `AgentError` (the
    agent stopped) if it is not within RENDER_DEADLINE_SECONDS or the agent exits first.
    """
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    workdir.chmod(0o700)
    for name, value in (("role-id", role_id), ("secret-id", secret_id), ("vault-token", token)):
        if value is not None:
            write_private(workdir / name, value)
    config_path = write_private(workdir / "agent.hcl", config)
    environment = {"VAULT_ADDR": vault_address}
    if ca_cert is not None:
        environment["VAULT_CACERT"] = str(ca_cert)
    if namespace:
        environment["VAULT_NAMESPACE"] = namespace  # the agent's login and its template's reads
    log_path = workdir / "agent.log"
    log = open_private_log(log_path)
    try:
        process = subprocess.Popen(
            [str(bao_binary()), "agent", f"-config={config_path}"],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_environment(environment),
        )
    finally:
        os.close(log)
    agent = Agent(workdir, process.pid, created_at(process.pid), log_path, process)
    if wait_for_render:
        _wait_for_render(agent, process)
    return agent


def _wait_for_render(agent: Agent, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + RENDER_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AgentError(f"bao agent exited with code {process.returncode}; see {agent.log_path}")
        if agent.key_file.is_file() and agent.key_file.stat().st_size > 0:
            return
        time.sleep(0.05)
    agent.stop()
    raise AgentError(
        f"bao agent rendered no {KEY_FILE} within {RENDER_DEADLINE_SECONDS:.0f}s; see {agent.log_path}"
    )
