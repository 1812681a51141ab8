"""Which handler answers which inference request: one table, read by the HTTP server.

A handler takes the `Request` (the parsed JSON body, the path's parameters, the sandbox's
inference state) and returns `(status, body)`, or a `Stream` of server-sent events (`stream: true`).
Every route answers only a currently valid model access key (the server checks it first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.inference import async_invoke, catalogue, chat, images, responses
from sandbox.inference.errors import InferenceError

__all__ = ["ROUTES", "InferenceState", "Request", "Route", "Stream", "find_route"]


@dataclass
class InferenceState:
    """What the inference surface remembers between requests (async jobs, the prompt cache)."""

    jobs: dict[str, Any] = field(default_factory=dict)
    cache: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Request:
    body: Any  # the parsed JSON body (None for a GET)
    params: dict[str, str]  # the path's named parts
    state: InferenceState


@dataclass(frozen=True)
class Stream:
    """Server-sent events: each item is a JSON-ready object sent as `data: ...`, then `data: [DONE]`."""

    events: Iterator[Any]


Answer = tuple[int, Any] | Stream


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # the name faults and statistics use
    handler: Callable[[Request], Answer]


def _route(method: str, path: str, operation: str, handler: Callable[[Request], Answer]) -> Route:
    # `{name}` in a path is one segment, given to the handler as params["name"].
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(regex), operation, handler)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/v1/models", "models", lambda request: (200, catalogue.models_listing())),
    _route("POST", "/v1/chat/completions", "chat_completions", chat.chat_completions),
    _route("POST", "/v1/responses", "responses", responses.create_response),
    _route("POST", "/v1/images/generations", "images_generations", images.generate_images),
    _route("POST", "/v1/async-invoke", "async_invoke", async_invoke.invoke),
    _route("GET", "/v1/async-invoke/{request_id}/status", "async_invoke_status", async_invoke.job_status),
    _route("GET", "/v1/async-invoke/{request_id}", "async_invoke_result", async_invoke.job_result),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for this request and its path parameters; InferenceError 405 when the path is
    known but not for this method; None when no route has the path."""
    matched = [(route, m.groupdict()) for route in ROUTES if (m := route.pattern.fullmatch(path))]
    for route, params in matched:
        if route.method == method:
            return route, params
    if matched:
        raise InferenceError(405, "method not allowed", "invalid_request_error", "method_not_allowed")
    return None
