"""A stand-in inference client, to prove a rotation costs consumers nothing (or how much).

It behaves like a real consumer: it reads the model access key from Vault (KV v2 field
`api_key`) every `--refresh` seconds and calls `POST /v1/chat/completions` every `--interval`
seconds with whatever key it last read. It prints one JSON line per second of counts, and a
final JSON summary on SIGTERM or after `--duration`. It never prints the key.

    python -m sandbox.consumer --inference-url URL --vault-path gradient-keys/apps/chatbot \\
        [--mount secret] [--refresh 0.25] [--interval 0.05] [--duration 60]

Vault settings come from VAULT_ADDR and VAULT_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from types import FrameType

import hvac
import requests

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.consumer", description=__doc__)
    parser.add_argument("--inference-url", required=True)
    parser.add_argument("--vault-path", required=True, help="full KV path, prefix included")
    parser.add_argument("--mount", default="secret")
    parser.add_argument("--refresh", type=float, default=0.25, help="seconds between Vault reads")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between inference calls")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0: on SIGTERM)"
    )
    args = parser.parse_args(argv)

    vault = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    session = requests.Session()
    stop = threading.Event()
    counts = {"calls": 0, "ok": 0, "failed": 0, "vault_reads": 0, "key_changes": 0}
    failures_at: list[float] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    key, last_read, last_report = "", 0.0, started
    print(json.dumps({"event": "started"}), flush=True)
    while not stop.is_set() and not (args.duration and time.monotonic() - started >= args.duration):
        now = time.monotonic()
        if now - last_read >= args.refresh or not key:
            reply = vault.secrets.kv.v2.read_secret_version(
                args.vault_path, mount_point=args.mount, raise_on_deleted_version=True
            )
            fresh = str(reply["data"]["data"]["api_key"])
            counts["vault_reads"] += 1
            counts["key_changes"] += int(bool(key) and fresh != key)
            key, last_read = fresh, now
        try:
            status = session.post(
                f"{args.inference_url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "llama3.3-70b-instruct", "messages": [{"role": "user", "content": "ping"}]},
                timeout=5,
            ).status_code
        except requests.RequestException:
            status = 0
        counts["calls"] += 1
        if status == 200:
            counts["ok"] += 1
        else:
            counts["failed"] += 1
            failures_at.append(round(time.monotonic() - started, 3))
        if time.monotonic() - last_report >= 1.0:
            print(json.dumps({"event": "progress", **counts}), flush=True)
            last_report = time.monotonic()
        stop.wait(args.interval)
    print(json.dumps({"event": "summary", **counts, "failures_at": failures_at}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
