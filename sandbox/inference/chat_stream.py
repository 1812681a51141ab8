"""A chat completion as OpenAI streams it (`stream: true`): `chat.completion.chunk` objects, each
choice opening with its role, then its `reasoning_content` and `content` a token at a time, then an
empty delta with its `finish_reason`; with `stream_options.include_usage`, every chunk carries
`usage: null` and a last chunk with no choices carries the usage. The server ends with `[DONE]`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sandbox.inference.logprobs import token_logprobs
from sandbox.inference.tokens import split_tokens

if TYPE_CHECKING:
    from sandbox.inference.chat import Answer, Completion

__all__ = ["chunks"]


def _deltas(completion: Completion, answer: Answer) -> Iterator[tuple[dict[str, Any], Any, str | None]]:
    """(delta, logprobs, finish_reason) for one choice, in order."""
    yield {"role": "assistant", "content": "", "refusal": None}, None, None
    for token in split_tokens(answer.reasoning or ""):
        yield {"reasoning_content": token}, None, None
    top = completion.request.logprobs
    for position, token in enumerate(split_tokens(answer.content)):
        logprobs = None
        if top is not None:
            logprobs = {"content": token_logprobs([token], answer.tag, top, position), "refusal": None}
        yield {"content": token}, logprobs, None
    yield {}, None, answer.finish_reason


def chunks(completion: Completion) -> list[dict[str, Any]]:
    include_usage = completion.request.include_usage
    head: dict[str, Any] = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.request.model.id,
        "service_tier": None,
        "system_fingerprint": completion.fingerprint,
    }
    if include_usage:
        head["usage"] = None
    events = [
        {
            **head,
            "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
        }
        for index, answer in enumerate(completion.answers)
        for delta, logprobs, finish in _deltas(completion, answer)
    ]
    if include_usage:
        events.append({**head, "choices": [], "usage": completion.usage()})
    return events
