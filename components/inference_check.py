"""Verify a freshly minted key before consumers get it (AWS's "testSecret" step).

A model key: `GET /v1/models` on the serverless-inference endpoint (no tokens spent). An agent's
key: the agent's endpoint serves chat completions only, so one completion of at most one token
(`POST /api/v1/chat/completions`). A new key can take a moment to be accepted everywhere, so a few
spaced attempts are made.
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

__all__ = ["DEFAULT_INFERENCE_URL", "agent_key_works", "inference_url", "key_works"]

log = logging.getLogger("gradient_keys.inference")


def inference_url(configured: str | None, environ: Mapping[str, str]) -> str:
    """`DIGITALOCEAN_INFERENCE_URL`, else the stack's `digitalocean.inference_url`, else DigitalOcean's.
    Every new secret is sent there, so it follows components/endpoints.py's rules."""
    return endpoints.inference(configured, environ).url


AGENT_PROBE = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "stream": False}


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
    return _works(
        base_url,
        lambda: requests.get(
            f"{base_url}/v1/models", headers={"Authorization": f"Bearer {secret.reveal()}"}, timeout=10
        ),
        attempts,
        delay,
        sleep,
    )


def agent_key_works(
    endpoint: str,
    secret: Secret,
    attempts: int = 5,
    delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Does the agent at `endpoint` answer a one-token chat completion with this secret? The same
    attempts and outcomes as `key_works`."""
    return _works(
        endpoint,
        lambda: requests.post(
            f"{endpoint}/api/v1/chat/completions",
            headers={"Authorization": f"Bearer {secret.reveal()}"},
            json=AGENT_PROBE,
            timeout=30,
        ),
        attempts,
        delay,
        sleep,
    )


def _works(
    base_url: str,
    send: Callable[[], requests.Response],
    attempts: int,
    delay: float,
    sleep: Callable[[float], None],
) -> bool:
    if attempts < 1:
        return False

    def status() -> int | None:
        try:
            return send().status_code
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
