"""A `POST /v1/chat/completions` body, read and checked against what DigitalOcean documents (and
the OpenAI fields its clients send): any wrong type or value is a 400 naming the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.inference.catalogue import Model, require_model
from sandbox.inference.errors import bad_request
from sandbox.inference.fields import (
    json_object,
    optional_bool,
    optional_choice,
    optional_int,
    optional_number,
)
from sandbox.inference.messages import Prompt, read_messages
from sandbox.inference.prompt_cache import RETENTIONS
from sandbox.inference.reasoning import Reasoning, read_reasoning

__all__ = ["ChatRequest", "read_chat_request"]

ENDPOINT = "/v1/chat/completions"
MAX_CHOICES = 128
MAX_STOPS = 4


@dataclass(frozen=True)
class ChatRequest:
    model: Model
    messages: list[Any]  # as sent: the reply is a function of them
    prompt: Prompt
    max_completion_tokens: int | None  # or the deprecated max_tokens
    reasoning: Reasoning | None
    cache_retention: str | None
    choices: int
    stops: tuple[str, ...]
    logprobs: int | None  # how many top_logprobs per token, None unless logprobs is true
    stream: bool
    include_usage: bool


def _stops(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise bad_request(f"stop must be a string or a list of up to {MAX_STOPS} strings", "invalid_value")
    return tuple(stops)


def _logprobs(body: dict[str, Any]) -> int | None:
    top = optional_int(body, "top_logprobs", 0, 20)
    if not optional_bool(body, "logprobs"):
        if top is not None:
            raise bad_request("top_logprobs requires logprobs to be true", "invalid_value")
        return None
    return top or 0


def _include_usage(body: dict[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise bad_request("stream_options is only allowed when stream is true", "invalid_value")
    if not isinstance(options, dict):
        raise bad_request('stream_options must be an object: {"include_usage"?}', "invalid_value")
    return optional_bool(options, "include_usage")


def _check_sampling(body: dict[str, Any]) -> None:
    """Fields that change nothing in the sandbox's replies, checked all the same."""
    optional_number(body, "temperature", 0.0, 2.0)
    optional_number(body, "top_p", 0.0, 1.0)
    optional_number(body, "presence_penalty", -2.0, 2.0)
    optional_number(body, "frequency_penalty", -2.0, 2.0)
    for name in ("tools", "metadata", "user", "tool_choice"):
        value = body.get(name)
        expected = {"tools": list, "metadata": dict, "user": str}.get(name, str | dict)
        if value is not None and not isinstance(value, expected):
            raise bad_request(f"{name} has the wrong type", "invalid_value")


def read_chat_request(raw: Any) -> ChatRequest:
    body = json_object(raw)
    model = require_model(body.get("model"), ENDPOINT)
    prompt = read_messages(body.get("messages"))
    max_completion = optional_int(body, "max_completion_tokens", 1)
    deprecated_max = optional_int(body, "max_tokens", 1)
    if max_completion is None:
        max_completion = deprecated_max
    _check_sampling(body)
    stream = optional_bool(body, "stream")
    return ChatRequest(
        model=model,
        messages=body["messages"],
        prompt=prompt,
        max_completion_tokens=max_completion,
        reasoning=read_reasoning(body, model, max_completion),
        cache_retention=optional_choice(body, "prompt_cache_retention", RETENTIONS),
        choices=optional_int(body, "n", 1, MAX_CHOICES) or 1,
        stops=_stops(body),
        logprobs=_logprobs(body),
        stream=stream,
        include_usage=_include_usage(body, stream),
    )
