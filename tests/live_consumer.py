"""A live consumer for rotation drills: `python -m sandbox.consumer` as its own process, reading
the key from Vault and calling the inference endpoint, stopped with SIGTERM for its summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REFRESH, INTERVAL = 0.2, 0.05


class LiveConsumer:
    def __init__(self, env: dict[str, str], vault_path: str) -> None:
        """`env` holds VAULT_ADDR, VAULT_TOKEN and DIGITALOCEAN_INFERENCE_URL (or the API URL);
        `vault_path` is the full KV path, prefix included."""
        inference = env.get("DIGITALOCEAN_INFERENCE_URL") or env["DIGITALOCEAN_API_URL"]
        command = [sys.executable, "-m", "sandbox.consumer", "--inference-url", inference]
        command += ["--vault-path", vault_path, "--refresh", str(REFRESH), "--interval", str(INTERVAL)]
        # Only what a consumer has: where Vault is and a token to read the key; no other credential.
        child_env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
        child_env.update({name: env[name] for name in ("VAULT_ADDR", "VAULT_TOKEN")})
        self.process = subprocess.Popen(command, cwd=REPO, env=child_env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert json.loads(self.process.stdout.readline())["event"] == "started"
        self.started = time.monotonic()

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        out, _err = self.process.communicate(timeout=20)
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return next(line for line in reversed(lines) if line["event"] == "summary")
