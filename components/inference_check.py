"""Verify a freshly minted key before consumers get it (AWS's "testSecret" step).

Calls `GET /v1/models` on the serverless-inference endpoint with the new secret. A new key can
take a moment to be accepted everywhere, so a few spaced attempts are made.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable

import requests

from components.secret import Secret

__all__ = ["DEFAULT_INFERENCE_URL", "KeyCheck", "check_key", "inference_url", "key_works"]

log = logging.getLogger("gradient_keys.inference")

DEFAULT_INFERENCE_URL = "https://inference.do-ai.run"


def inference_url(configured: str | None = None) -> str:
    """`DIGITALOCEAN_INFERENCE_URL`, else the stack's `digitalocean.inference_url`, else DigitalOcean's."""
    return (os.environ.get("DIGITALOCEAN_INFERENCE_URL") or configured or DEFAULT_INFERENCE_URL).rstrip("/")


class KeyCheck(enum.Enum):
    """What the inference endpoint said of a secret."""

    ACCEPTED = "accepted"  # 200
    REFUSED = "refused"  # 401 or 403: the secret is not (or no longer) a valid key
    UNKNOWN = "unknown"  # no answer, 429 or 5xx: nothing can be concluded


def check_key(
    base_url: str,
    secret: Secret,
    attempts: int = 5,
    delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> KeyCheck:
    """Ask `GET /v1/models` with the secret, up to `attempts` times until it is accepted."""
    outcome = KeyCheck.UNKNOWN
    for attempt in range(1, attempts + 1):
        try:
            status = requests.get(
                f"{base_url}/v1/models", headers={"Authorization": f"Bearer {secret.reveal()}"}, timeout=10
            ).status_code
        except requests.RequestException as exc:
            status = None
            log.debug("inference check attempt %d: %s", attempt, type(exc).__name__)
        if status == 200:
            return KeyCheck.ACCEPTED
        outcome = KeyCheck.REFUSED if status in (401, 403) else KeyCheck.UNKNOWN
        log.debug("inference check attempt %d answered %s", attempt, status)
        if attempt < attempts:
            sleep(delay)
    return outcome


def key_works(
    base_url: str,
    secret: Secret,
    attempts: int = 5,
    delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    return check_key(base_url, secret, attempts, delay, sleep) is KeyCheck.ACCEPTED
