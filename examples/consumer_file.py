"""A service's inference client that follows key rotations on its own (docs/consumers.md).

It reads its DigitalOcean model access key from a file that `bao agent` or Vault Agent renders
from Vault (examples/agent/agent.hcl) and calls Gradient serverless inference with the official
`openai` client:

- before each call it looks at the file (one `stat`) and re-reads it when it was rewritten;
- on 401 it re-reads the file and retries once, so a change the look could not see (a file
  system with coarse timestamps, a writer that keeps the inode) costs no failed call;
- it never logs or prints the key: errors name the file, never what it holds.

    GRADIENT_KEY_FILE=/run/gradient-keys/chatbot.key python examples/consumer_file.py "Say hello"
    GRADIENT_KEY_FILE=... python examples/consumer_file.py --every 0.05 --duration 60

With `--every` it calls repeatedly and prints one JSON summary: calls, failures, retries after a
401, and each key it used since when (wall-clock seconds), by fingerprint: the first 12 hex of its
SHA-256, as `gradient-keys history` shows it.

Environment: GRADIENT_KEY_FILE (required), DIGITALOCEAN_INFERENCE_URL (default
https://inference.do-ai.run; https, or http to a loopback address only), GRADIENT_MODEL (default
llama3.3-70b-instruct).
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletionMessageParam

__all__ = ["InferenceClient", "KeyFile", "KeyFileError", "KeyRefusedError", "inference_url", "main"]

DEFAULT_INFERENCE_URL = "https://inference.do-ai.run"
DEFAULT_MODEL = "llama3.3-70b-instruct"


class KeyFileError(RuntimeError):
    """The key file is missing, unreadable or empty."""


class KeyRefusedError(RuntimeError):
    """The endpoint refused the file's key (401) and the file holds no newer one."""


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class KeyFile:
    """The key a file holds, read again whenever the file changes."""

    path: Path
    _key: str = field(default="", repr=False)
    _seen: tuple[int, int, int] | None = None  # inode, size and mtime when last read

    def _signature(self) -> tuple[int, int, int]:
        try:
            status = self.path.stat()
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file {self.path}: {exc.strerror}") from None
        return status.st_ino, status.st_size, status.st_mtime_ns

    def current(self) -> str:
        """The key, re-read if the file changed since the last read."""
        if not self._key or self._signature() != self._seen:
            return self.reload()
        return self._key

    def reload(self) -> str:
        """Read the file now. Its signature is taken first: a rewrite during the read is seen next time."""
        signature = self._signature()
        try:
            key = self.path.read_text().strip()
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file {self.path}: {exc.strerror}") from None
        if not key:
            raise KeyFileError(f"the key file {self.path} is empty: has the agent rendered it yet?")
        self._key, self._seen = key, signature
        return key


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def inference_url(environ: Mapping[str, str]) -> str:
    """DIGITALOCEAN_INFERENCE_URL, refused where the key would travel in clear text or beside a password."""
    url = environ.get("DIGITALOCEAN_INFERENCE_URL", DEFAULT_INFERENCE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError("DIGITALOCEAN_INFERENCE_URL must not carry a user or password")
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return url
    raise ValueError("DIGITALOCEAN_INFERENCE_URL must be https (or http to a loopback address)")


class InferenceClient:
    """Chat completions with the key the file holds now; on 401, the file again and one retry."""

    def __init__(self, keys: KeyFile, base_url: str, model: str = DEFAULT_MODEL) -> None:
        self.keys = keys
        self.model = model
        key = keys.current()
        # The SDK's own retries (429, 5xx, connection errors) stay on; it never retries a 401.
        self._client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key)
        self.retried_after_401 = 0
        self.keys_used = [self._since_now(key)]  # each key and when it was first used

    @staticmethod
    def _since_now(key: str) -> dict[str, object]:
        return {"since": round(time.time(), 3), "fingerprint": fingerprint(key)}

    def _using(self, key: str) -> openai.OpenAI:
        if key != self._client.api_key:
            self._client = self._client.with_options(api_key=key)  # shares the connection pool
            self.keys_used.append(self._since_now(key))
        return self._client

    def _ask(self, client: openai.OpenAI, prompt: str) -> str:
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": prompt}]
        reply = client.chat.completions.create(model=self.model, messages=messages)
        return reply.choices[0].message.content or ""

    def chat(self, prompt: str) -> str:
        client = self._using(self.keys.current())
        try:
            return self._ask(client, prompt)
        except openai.AuthenticationError:
            fresh = self.keys.reload()
            if fresh == client.api_key:
                raise KeyRefusedError(
                    f"the key in {self.keys.path} was refused (401) and the file holds no newer one: "
                    "is the agent running, and may it read the key's path in Vault?"
                ) from None  # the SDK's error carries the response body: leave it behind
            self.retried_after_401 += 1
            return self._ask(self._using(fresh), prompt)


def _describe(exc: Exception) -> str:
    """A failure in words, without the response body (never shown)."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} ({type(exc).__name__})"
    if isinstance(exc, openai.APIError):
        return type(exc).__name__
    return str(exc)


def _repeat(client: InferenceClient, prompt: str, every: float, duration: float) -> dict[str, object]:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)}
    started = time.monotonic()
    calls = 0
    failures_at: list[float] = []
    failures: dict[str, int] = {}
    try:
        while not stop.is_set() and not (duration and time.monotonic() - started >= duration):
            calls += 1
            try:
                client.chat(prompt)
            except (openai.APIError, KeyFileError, KeyRefusedError) as exc:
                failures[_describe(exc)] = failures.get(_describe(exc), 0) + 1
                failures_at.append(round(time.monotonic() - started, 3))
            stop.wait(every)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return {
        "calls": calls,
        "failed": len(failures_at),
        "failures": failures,
        "failures_at": failures_at,
        "retried_after_401": client.retried_after_401,
        "keys_used": client.keys_used,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="Say hello.")
    parser.add_argument("--every", type=float, help="call repeatedly, this many seconds apart; print counts")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="with --every: stop after it (0: on SIGTERM)"
    )
    args = parser.parse_args(argv)
    name = os.environ.get("GRADIENT_KEY_FILE", "")
    model = os.environ.get("GRADIENT_MODEL", DEFAULT_MODEL)
    try:
        if not name:
            raise ValueError("set GRADIENT_KEY_FILE to the file the agent renders the key to")
        client = InferenceClient(KeyFile(Path(name)), inference_url(os.environ), model)
        if args.every is None:
            print(client.chat(args.prompt))
        else:
            print(json.dumps(_repeat(client, args.prompt, args.every, args.duration)), flush=True)
    except (ValueError, KeyFileError) as exc:
        print(f"consumer_file: {exc}", file=sys.stderr)
        return 2
    except (openai.APIError, KeyRefusedError) as exc:
        print(f"consumer_file: the inference call failed: {_describe(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
