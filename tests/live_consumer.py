"""A live consumer for rotation drills: `python -m sandbox.consumer` as its own process, reading
the key from Vault and calling the inference endpoint, stopped with SIGTERM for its summary; and
`SecretsSeen`, which tells a test when that consumer has picked a new key up, so drills wait for
that instead of sleeping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from components.secret import Secret
from sandbox.server import Emulator
from sandbox.store import StoredKey, secret_digest

REPO = Path(__file__).resolve().parents[1]
REFRESH, INTERVAL = 0.2, 0.05
POLL = 0.01  # how often a wait looks again; a consumer call comes every INTERVAL


class LiveConsumer:
    def __init__(
        self, env: dict[str, str], vault_path: str, client: str = "http", refresh: float = REFRESH
    ) -> None:
        """`env` holds VAULT_ADDR, VAULT_TOKEN (and VAULT_NAMESPACE, VAULT_CACERT when set) and
        DIGITALOCEAN_INFERENCE_URL (or the API URL); `vault_path` is the full KV path, prefix
        included; `client` is `http`, `openai` or `gradient` (what makes the call); `refresh` the
        seconds between Vault reads (0: before every call)."""
        inference = env.get("DIGITALOCEAN_INFERENCE_URL") or env["DIGITALOCEAN_API_URL"]
        command = [sys.executable, "-m", "sandbox.consumer", "--inference-url", inference]
        command += ["--vault-path", vault_path, "--refresh", str(refresh), "--interval", str(INTERVAL)]
        command += ["--client", client]
        # Only what a consumer has: where Vault is and a token to read the key; no other credential.
        child_env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
        child_env.update({name: env[name] for name in ("VAULT_ADDR", "VAULT_TOKEN")})
        child_env.update({name: env[name] for name in ("VAULT_NAMESPACE", "VAULT_CACERT") if name in env})
        self.process = subprocess.Popen(command, cwd=REPO, env=child_env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert json.loads(self.process.stdout.readline())["event"] == "started"
        self.started = time.monotonic()

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        out, _err = self.process.communicate(timeout=20)
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return next(line for line in reversed(lines) if line["event"] == "summary")


class SecretsSeen:
    """The secrets the (in-process) emulator's inference endpoint has been called with, in order,
    kept as digests. A consumer calls every INTERVAL with the key it last read, so "the endpoint
    was called with the new secret after the rotation returned" means "the consumer has it"."""

    def __init__(self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self._digests: list[str] = []
        self._lock = threading.Lock()
        lookup = emulator.store.find_by_secret

        def recording(secret: str) -> StoredKey | None:
            with self._lock:
                self._digests.append(secret_digest(secret))
            return lookup(secret)

        # The inference endpoint looks every bearer token up here (sandbox/server.py, `_inference`);
        # the emulator has no hook of its own for this. monkeypatch restores it after the test.
        monkeypatch.setattr(emulator.store, "find_by_secret", recording)

    def mark(self) -> int:
        """A position in the record: `wait_for(..., since=mark())` ignores every call before now."""
        with self._lock:
            return len(self._digests)

    def wait_for(self, secret: Secret, since: int = 0, timeout: float = 20.0) -> None:
        """Return once the endpoint has been called with `secret` after position `since`; fail
        (naming no secret) if that takes longer than `timeout` seconds."""
        digest = secret_digest(secret.reveal())
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if digest in self._digests[since:]:
                    return
            if time.monotonic() >= deadline:
                raise AssertionError(f"no inference call used the expected secret within {timeout} s")
            time.sleep(POLL)
