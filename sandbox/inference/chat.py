"""The serverless-inference surface consumers call with a model access key.

OpenAI-compatible like DigitalOcean's `https://inference.do-ai.run`: `GET /v1/models` and
`POST /v1/chat/completions`. Completions are deterministic (the same messages give the same
reply) so tests can assert on them; `usage` has the shape DigitalOcean documents.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sandbox.inference.errors import InferenceError

__all__ = ["MODELS", "chat_completion", "models_listing"]

MODELS = ("llama3.3-70b-instruct", "llama3-8b-instruct", "mistral-nemo-instruct-2407")


def models_listing() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1735689600, "owned_by": "digitalocean"} for m in MODELS
        ],
    }


def _count_tokens(text: str) -> int:
    # Whitespace words: a stable stand-in for a tokenizer, good enough for usage accounting.
    return len(text.split())


def chat_completion(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InferenceError(
            400, "request body must be a JSON object", "invalid_request_error", "invalid_body"
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InferenceError(400, "model is required", "invalid_request_error", "missing_model")
    if model not in MODELS:
        raise InferenceError(
            404, f"model {model!r} does not exist", "invalid_request_error", "model_not_found"
        )
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str) and isinstance(m.get("role"), str)
            for m in messages
        )
    ):
        raise InferenceError(
            400,
            "messages must be a non-empty list of {role, content} objects",
            "invalid_request_error",
            "invalid_messages",
        )
    digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).hexdigest()
    last = messages[-1]["content"]
    reply = f"Sandbox reply {digest[:8]}: received {_count_tokens(last)} words."
    prompt_tokens = sum(_count_tokens(m["content"]) for m in messages)
    completion_tokens = _count_tokens(reply)
    return {
        "id": f"chatcmpl-{digest[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
