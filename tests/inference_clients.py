"""The official clients, pointed at a sandbox emulator with strict response validation: every
answer they parse must match their pydantic models exactly (a missing required field, a wrong type
or a value outside a Literal raises `APIResponseValidationError`).

- `openai.OpenAI(base_url=<sandbox>/v1, api_key=<model access key>)`, as DigitalOcean's doc does;
- `gradient.Gradient(model_access_key=..., inference_endpoint=<sandbox>)` for inference: the SDK
  calls `{inference_endpoint}/v1/...`;
- `gradient.Gradient(access_token=<API token>, base_url=<sandbox>)` for the control plane
  (`client.models.list()` is `GET /v2/gen-ai/models`).
"""

from __future__ import annotations

from typing import Any

import gradient
import openai

from sandbox.server import DEFAULT_TOKEN, Emulator

__all__ = ["SDKS", "control_plane", "inference_client", "round_trips"]

SDKS = ("openai", "gradient")


def inference_client(sdk: str, emulator: Emulator, secret: str) -> Any:
    """A client of the serverless-inference endpoints (`.chat.completions.create` in both SDKs)."""
    if sdk == "openai":
        return openai.OpenAI(
            base_url=f"{emulator.base_url}/v1",
            api_key=secret,
            max_retries=0,
            _strict_response_validation=True,
        )
    return gradient.Gradient(
        model_access_key=secret,
        inference_endpoint=emulator.base_url,
        max_retries=0,
        _strict_response_validation=True,
    )


def control_plane(emulator: Emulator, token: str = DEFAULT_TOKEN) -> gradient.Gradient:
    return gradient.Gradient(
        access_token=token, base_url=emulator.base_url, max_retries=0, _strict_response_validation=True
    )


def round_trips(parsed: Any) -> bool:
    """The SDK's model dumps and validates back to an equal model (nothing lost or coerced)."""
    return bool(type(parsed).model_validate(parsed.model_dump()) == parsed)
