"""Verify a freshly minted key before consumers get it (AWS's "testSecret" step).

Calls `GET /v1/models` on the serverless-inference endpoint with the new secret. A new key can
take a moment to be accepted everywhere, so a few spaced attempts are made.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

import requests

from components import endpoints
from components.endpoints import DEFAULT_INFERENCE_URL
from components.secret import Secret

__all__ = ["DEFAULT_INFERENCE_URL", "inference_url", "key_works"]

log = logging.getLogger("gradient_keys.inference")


def inference_url(configured: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """`DIGITALOCEAN_INFERENCE_URL`, else the stack's `digitalocean.inference_url`, else DigitalOcean's.
    Every new secret is sent there, so it follows components/endpoints.py's rules."""
    return endpoints.inference(configured, os.environ if environ is None else environ).url


def key_works(
    base_url: str,
    secret: Secret,
    attempts: int = 5,
    delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    for attempt in range(1, attempts + 1):
        try:
            status = requests.get(
                f"{base_url}/v1/models", headers={"Authorization": f"Bearer {secret.reveal()}"}, timeout=10
            ).status_code
        except requests.RequestException as exc:
            status = None
            log.debug("inference check attempt %d: %s", attempt, type(exc).__name__)
        if status == 200:
            return True
        log.debug("inference check attempt %d answered %s", attempt, status)
        if attempt < attempts:
            sleep(delay)
    return False
