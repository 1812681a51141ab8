"""Verify a freshly minted key before consumers get it (AWS's "testSecret" step).

Calls `GET /v1/models` on the serverless-inference endpoint with the new secret. A new key can
take a moment to be accepted everywhere, so a few spaced attempts are made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import requests
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_fixed

from components import endpoints
from components.endpoints import DEFAULT_INFERENCE_URL
from components.errors import InferenceUnavailableError
from components.secret import Secret

__all__ = ["DEFAULT_INFERENCE_URL", "inference_url", "key_works"]

log = logging.getLogger("gradient_keys.inference")


def inference_url(configured: str | None, environ: Mapping[str, str]) -> str:
    """`DIGITALOCEAN_INFERENCE_URL`, else the stack's `digitalocean.inference_url`, else DigitalOcean's.
    Every new secret is sent there, so it follows components/endpoints.py's rules."""
    return endpoints.inference(configured, environ).url


def key_works(
    base_url: str,
    secret: Secret,
    attempts: int = 5,
    delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Does `GET /v1/models` answer 200 with this secret? Up to `attempts` tries, `delay` apart:
    any other answer, or none (a `requests` error), is tried again. False when the endpoint
    answered and refused it; InferenceUnavailableError when the last try got no answer or a 5xx
    (the endpoint is down, not the secret)."""
    if attempts < 1:
        return False

    def status() -> int | None:
        try:
            return requests.get(
                f"{base_url}/v1/models", headers={"Authorization": f"Bearer {secret.reveal()}"}, timeout=10
            ).status_code
        except requests.RequestException as exc:
            log.debug("inference check: %s", type(exc).__name__)
            return None

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(delay),
        retry=retry_if_result(lambda answered: answered != 200),
        sleep=sleep,
        # Out of attempts: the last answer (or None), which says whether the endpoint is down.
        retry_error_callback=lambda state: state.outcome.result() if state.outcome is not None else None,
        after=lambda state: log.debug(
            "inference check attempt %d answered %s",
            state.attempt_number,
            state.outcome.result() if state.outcome is not None else None,
        ),
    )
    answered = retrying(status)
    if answered is None or answered >= 500:
        seen = "no answer" if answered is None else f"HTTP {answered}"
        raise InferenceUnavailableError(
            f"the inference endpoint {base_url} did not answer usably ({seen}, {attempts} attempt(s)), "
            "so the secret could not be checked"
        )
    return answered == 200
