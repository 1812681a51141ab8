"""A stand-in inference client, to prove a rotation costs consumers nothing (or how much).

It behaves like a real consumer: it reads the model access key from Vault (KV v2 field
`api_key`) every `--refresh` seconds and calls `POST /v1/chat/completions` every `--interval`
seconds with whatever key it last read. It prints one JSON line per second of counts, and a
final JSON summary on SIGTERM or after `--duration`. It never prints the key.

    python -m sandbox.consumer --inference-url URL --vault-path gradient-keys/apps/chatbot \\
        [--mount secret] [--refresh 0.25] [--interval 0.05] [--duration 60] \\
        [--client http|openai|gradient]

`--client` picks what makes the call: plain HTTP (the default), or an official SDK as a real
consumer writes it: `openai.OpenAI(base_url=URL/v1/, api_key=KEY)` or
`gradient.Gradient(model_access_key=KEY, inference_endpoint=URL)`, each with strict response
validation (an answer the SDK's types refuse is a failed call) and its own retries off (a call
the SDK would have retried counts as failed, so a retry cannot hide one). When the key read from
Vault differs from the client's, the consumer switches the client to it (`with_options`).
`--refresh 0` reads Vault before every call: what the rotation tests use for the SDK consumers,
so the key a call uses is always the one Vault holds at that moment.

Vault settings come from VAULT_ADDR and VAULT_TOKEN, and VAULT_NAMESPACE (Vault Enterprise /
OpenBao namespaces) and VAULT_CACERT when set.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import hvac
import requests

__all__ = ["CLIENTS", "main"]

CLIENTS = ("http", "openai", "gradient")
MODEL = "llama3.3-70b-instruct"
MESSAGES = [{"role": "user", "content": "ping"}]
TIMEOUT = 5.0


def _http_caller(inference_url: str) -> Callable[[str], bool]:
    session = requests.Session()

    def call(key: str) -> bool:
        try:
            status = session.post(
                f"{inference_url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": MODEL, "messages": MESSAGES},
                timeout=TIMEOUT,
            ).status_code
        except requests.RequestException:
            return False
        return status == 200

    return call


def _sdk_caller(kind: str, inference_url: str) -> Callable[[str], bool]:
    """A chat completion through the official SDK; imported here, as only this mode needs it."""
    client: Any = None

    def make(key: str) -> Any:
        if kind == "openai":
            from openai import OpenAI  # noqa: PLC0415 - an optional dependency of this mode only

            return OpenAI(
                base_url=f"{inference_url}/v1/",
                api_key=key,
                max_retries=0,
                timeout=TIMEOUT,
                _strict_response_validation=True,
            )
        from gradient import Gradient  # noqa: PLC0415 - an optional dependency of this mode only

        return Gradient(
            model_access_key=key,
            inference_endpoint=inference_url,
            max_retries=0,
            timeout=TIMEOUT,
            _strict_response_validation=True,
        )

    def call(key: str) -> bool:
        nonlocal client
        current = (
            None if client is None else (client.api_key if kind == "openai" else client.model_access_key)
        )
        if client is None:
            client = make(key)
        elif current != key:
            option = "api_key" if kind == "openai" else "model_access_key"
            client = client.with_options(**{option: key})
        try:
            reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        except Exception:  # every way a call can fail (HTTP, transport, validation) is a failure
            return False
        return bool(reply.choices)

    return call


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
    parser.add_argument("--client", choices=CLIENTS, default="http", help="what makes the call")
    args = parser.parse_args(argv)

    vault = hvac.Client(
        url=os.environ["VAULT_ADDR"],
        token=os.environ["VAULT_TOKEN"],
        namespace=os.environ.get("VAULT_NAMESPACE", "").strip().strip("/") or None,
        verify=os.environ.get("VAULT_CACERT") or True,
    )
    call = (
        _http_caller(args.inference_url)
        if args.client == "http"
        else _sdk_caller(args.client, args.inference_url)
    )
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
        counts["calls"] += 1
        if call(key):
            counts["ok"] += 1
        else:
            counts["failed"] += 1
            failures_at.append(round(time.monotonic() - started, 3))
        if time.monotonic() - last_report >= 1.0:
            print(json.dumps({"event": "progress", **counts}), flush=True)
            last_report = time.monotonic()
        stop.wait(args.interval)
    summary = {"event": "summary", "client": args.client, **counts, "failures_at": failures_at}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
