"""Does a secret work? The question rotation tests ask of a key, put the way a consumer would:
`GET /v1/models` at the inference endpoint with the secret as a bearer token (read-only, so asking
changes nothing). Deliberately independent of `components.inference_check`, the code under test.

A transport error is raised, not read as "refused": `assert not works(...)` must not pass because
the endpoint was unreachable. Callers for whom an unreachable endpoint means "does not work" (the
fault campaign) catch `requests.RequestException` themselves.
"""

from __future__ import annotations

import requests

from components.secret import Secret
from sandbox.server import Emulator

__all__ = ["agent_status", "inference_status", "works"]

TIMEOUT = 10.0


def inference_status(where: Emulator | str, secret: str | Secret) -> int:
    """The status the inference endpoint (an emulator, or its base URL) answers this secret with."""
    base_url = where.base_url if isinstance(where, Emulator) else where
    key = secret.reveal() if isinstance(secret, Secret) else secret
    reply = requests.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)
    return reply.status_code


def works(where: Emulator | str, secret: str | Secret) -> bool:
    """Does the inference endpoint accept this secret (200 to `GET /v1/models`)?"""
    return inference_status(where, secret) == 200


def agent_status(emulator: Emulator, agent: str, secret: str) -> int:
    """The status the sandbox agent `agent`'s endpoint answers a chat completion with this secret."""
    return requests.post(
        f"{emulator.base_url}/agents/{agent}/api/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"messages": [{"role": "user", "content": "hi"}]},
        timeout=TIMEOUT,
    ).status_code
