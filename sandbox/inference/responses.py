"""`POST /v1/responses`: DigitalOcean's Responses API, deterministic.

The answer has the documented shape: `output[]` holds a `reasoning` item (`reasoning_text` parts)
when a reasoning model reasons, then a `message` item (`output_text` parts); `usage` counts
`input_tokens` (`input_tokens_details.cached_tokens`) and `output_tokens`
(`output_tokens_details.reasoning_tokens`). Reasoning models reason unless told not to
(`reasoning.effort` or `reasoning_effort` `none`): the doc's example reads the answer at
`output[1]` without asking for reasoning. `max_output_tokens` caps reasoning and answer together;
a capped answer is `incomplete` (`incomplete_details.reason: max_output_tokens`), as in OpenAI's API.
`prompt_cache_retention` caches the input: the same input again reads it (`cached_tokens`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.inference.catalogue import REASONING_EFFORTS, require_model
from sandbox.inference.errors import InferenceError, bad_request
from sandbox.inference.fields import (
    json_object,
    optional_bool,
    optional_choice,
    optional_int,
    optional_number,
)
from sandbox.inference.messages import Prompt, Segment
from sandbox.inference.prompt_cache import RETENTIONS, use_cache
from sandbox.inference.response_events import response_events
from sandbox.inference.tokens import count_tokens, digest, first_tokens, words

if TYPE_CHECKING:
    from sandbox.inference.routes import Answer, Request

__all__ = ["create_response"]

ROLES = frozenset({"user", "assistant", "system", "developer"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
OTHER_PARTS = frozenset({"input_image", "input_file", "input_audio"})  # accepted, count no tokens

# One more step of reasoning per level of effort (none 0 ... max 4; medium is the default).
STEPS = (
    "The request asks for a reply.",
    "The sandbox answers every request the same way.",
    "It names a digest of the request and counts the words received.",
    "Nothing else is needed.",
)


@dataclass(frozen=True)
class _Ask:
    """A validated request."""

    model: str
    prompt: Prompt  # instructions (as a system segment), then every input text
    instructions: str | None
    max_output_tokens: int | None
    effort: str  # "none" for a model that does not reason
    store: bool
    retention: str | None
    stream: bool


def create_response(request: Request) -> Answer:
    body = json_object(request.body)
    ask = _read(body)
    state = request.state
    previous = body.get("previous_response_id")
    if previous is not None and f"response:{previous}" not in state.cache:
        raise InferenceError(
            400,
            f"previous_response_id {previous[:60]!r} names no stored response",
            "invalid_request_error",
            "previous_response_not_found",
        )
    usage = use_cache(state.cache, ask.model, ask.prompt, ask.retention)
    response = _response(ask, body, usage.read)
    if ask.store:  # kept (its id only) so a later request may name it as previous_response_id
        state.cache.add(f"response:{response['id']}")
    if ask.stream:
        return _stream(response)
    return 200, response


def _stream(response: dict[str, Any]) -> Answer:
    # routes.py imports this module, so its Stream is imported when first needed, not at the top.
    from sandbox.inference.routes import Stream  # noqa: PLC0415

    return Stream(response_events(response))


# -- reading the request ------------------------------------------------------------------------
def _read(body: dict[str, Any]) -> _Ask:
    model = require_model(body.get("model"), "/v1/responses")
    instructions = body.get("instructions")
    for field in ("instructions", "previous_response_id"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise bad_request(f"{field} must be a string", "invalid_value")
    optional_number(body, "temperature", 0, 2)
    optional_number(body, "top_p", 0, 1)
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise bad_request("metadata must be an object of strings", "invalid_value")
    system = [Segment("system", instructions, None)] if instructions else []
    return _Ask(
        model=model.id,
        prompt=Prompt(tuple(system + _input(body.get("input")))),
        instructions=instructions,
        max_output_tokens=optional_int(body, "max_output_tokens", 1),
        effort=_effort(body) if model.kind == "reasoning" else "none",
        store=optional_bool(body, "store", default=True),
        retention=optional_choice(body, "prompt_cache_retention", RETENTIONS),
        stream=optional_bool(body, "stream"),
    )


def _effort(body: dict[str, Any]) -> str:
    """`reasoning.effort` (OpenAI's Responses form) or `reasoning_effort`; medium when neither."""
    reasoning = body.get("reasoning")
    if reasoning is None:
        return optional_choice(body, "reasoning_effort", REASONING_EFFORTS) or "medium"
    if not isinstance(reasoning, dict):
        raise bad_request('reasoning must be an object such as {"effort": "low"}', "invalid_value")
    return optional_choice(reasoning, "effort", REASONING_EFFORTS, label="reasoning.effort") or "medium"


def _input(value: Any) -> list[Segment]:
    """`input`: a non-empty string, or a non-empty list of messages (`{role, content}`, content a
    string or a list of parts)."""
    if isinstance(value, str) and value.strip():
        return [Segment("user", value, None)]
    if not isinstance(value, list) or not value:
        raise bad_request("input must be a non-empty string or a non-empty list of messages", "invalid_input")
    return [segment for i, item in enumerate(value) for segment in _item(item, f"input[{i}]")]


def _item(item: Any, where: str) -> list[Segment]:
    if not isinstance(item, dict) or not isinstance(item.get("role"), str) or item["role"] not in ROLES:
        raise bad_request(
            f"{where} must be a message with a role among {', '.join(sorted(ROLES))}", "invalid_input"
        )
    role, content = item["role"], item.get("content")
    if isinstance(content, str):
        return [Segment(role, content, None)]
    if isinstance(content, list) and content:
        return [_part(part, role, f"{where}.content[{i}]") for i, part in enumerate(content)]
    raise bad_request(f"{where}.content must be a string or a non-empty list of parts", "invalid_input")


def _part(part: Any, role: str, where: str) -> Segment:
    kind = part.get("type") if isinstance(part, dict) else None
    kind = kind if isinstance(kind, str) else None  # a list or an object is not looked up in the sets
    if kind in OTHER_PARTS:
        return Segment(role, "", None)
    if kind in TEXT_PARTS and isinstance(part.get("text"), str):
        return Segment(role, part["text"], None)
    known = ", ".join(sorted(TEXT_PARTS | OTHER_PARTS))
    raise bad_request(
        f"{where} must be a part with a type among {known} (text parts with a text)", "invalid_input"
    )


# -- the answer ---------------------------------------------------------------------------------
def _response(ask: _Ask, body: dict[str, Any], cached: int) -> dict[str, Any]:
    budget = ask.max_output_tokens if ask.max_output_tokens is not None else 1_000_000
    input_tokens = count_tokens(ask.prompt.text)
    reasoning = first_tokens(" ".join(STEPS[: REASONING_EFFORTS.index(ask.effort)]), budget)
    whole = f"Sandbox reply {digest(ask.model, ask.prompt.text)[:8]}: received {words(input_tokens)}."
    answer = first_tokens(whole, budget - count_tokens(reasoning))
    complete = answer == whole
    output = ([_reasoning_item(reasoning)] if reasoning else []) + (
        [_message(answer, complete)] if answer else []
    )
    reasoning_tokens = count_tokens(reasoning)
    output_tokens = reasoning_tokens + count_tokens(answer)
    now = int(time.time())
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created": now,  # what DigitalOcean's SDK reads; OpenAI's reads created_at
        "created_at": now,
        "completed_at": now if complete else None,
        "status": "completed" if complete else "incomplete",
        "error": None,
        "incomplete_details": None if complete else {"reason": "max_output_tokens"},
        "model": ask.model,
        "instructions": ask.instructions,
        "output": output,
        "max_output_tokens": ask.max_output_tokens,
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        # null: the two SDKs disagree on the type of `reasoning` and `text` (object, string).
        "reasoning": None,
        "text": None,
        "service_tier": None,
        "store": ask.store,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tool_choice": "auto",
        "tools": [],
        "background": False,
        "usage": {
            "input_tokens": input_tokens,
            # cache_write_tokens is not in DigitalOcean's example; OpenAI's SDK requires it.
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens, "tool_output_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def _reasoning_item(text: str) -> dict[str, Any]:
    return {
        "id": f"rs_{uuid.uuid4().hex}",
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "encrypted_content": None,
        "status": "completed",
    }


def _message(text: str, complete: bool) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "status": "completed" if complete else "incomplete",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }
