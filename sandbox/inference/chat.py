"""`POST /v1/chat/completions`, as DigitalOcean's serverless inference answers it.

The reply is deterministic (a function of the model and the messages), cut to
`max_completion_tokens` (or the deprecated `max_tokens`) with `finish_reason: "length"`, or at a
`stop` sequence. Reasoning models asked to reason add `reasoning_content`; prompt caching fills
the `usage` cache fields. `stream: true` answers the same reply as OpenAI's
`chat.completion.chunk` events (`chat_stream.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.inference.chat_request import ChatRequest, read_chat_request
from sandbox.inference.chat_stream import chunks
from sandbox.inference.logprobs import token_logprobs
from sandbox.inference.prompt_cache import CacheUsage, use_cache
from sandbox.inference.reasoning import reasoning_text
from sandbox.inference.tokens import count_tokens, digest, first_tokens, split_tokens, words

if TYPE_CHECKING:
    from sandbox.inference.routes import Answer as RouteAnswer
    from sandbox.inference.routes import Request

__all__ = ["Answer", "Completion", "chat_completions", "complete", "completion_body"]


@dataclass(frozen=True)
class Answer:
    """One choice: what the model says, what it thought first, and why it stopped."""

    tag: str  # the digest its text derives from
    content: str
    reasoning: str | None
    finish_reason: str

    @property
    def tokens(self) -> int:
        return count_tokens(self.content) + count_tokens(self.reasoning or "")


@dataclass(frozen=True)
class Completion:
    request: ChatRequest
    id: str
    created: int
    answers: tuple[Answer, ...]
    cache: CacheUsage

    @property
    def fingerprint(self) -> str:
        return f"fp_{digest('fingerprint', self.request.model.id)[:10]}"

    def usage(self) -> dict[str, Any]:
        prompt_tokens = count_tokens(self.request.prompt.text)
        completion_tokens = sum(answer.tokens for answer in self.answers)
        reasoning_tokens = sum(count_tokens(answer.reasoning or "") for answer in self.answers)
        return {
            "completion_tokens": completion_tokens,
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens_details": {
                "accepted_prediction_tokens": 0,
                "audio_tokens": 0,
                "reasoning_tokens": reasoning_tokens,
                "rejected_prediction_tokens": 0,
            },
            "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": self.cache.read},
            **self.cache.usage_fields(),
        }


def _answer(request: ChatRequest, index: int) -> Answer:
    tag = digest(request.model.id, request.messages, index)[:8]
    question = request.prompt.last_text
    content = f"Sandbox reply {tag}: received {words(count_tokens(question))}."
    thinking = reasoning_text(request.reasoning, question, tag) if request.reasoning else None
    finish = "stop"
    cuts = [content.index(stop) for stop in request.stops if stop in content]
    if cuts:
        content = content[: min(cuts)]
    limit = request.max_completion_tokens
    if limit is not None:
        budget = max(0, limit - count_tokens(thinking or ""))
        if count_tokens(content) > budget:
            content, finish = first_tokens(content, budget), "length"
    return Answer(tag, content, thinking, finish)


def complete(request: ChatRequest, cache: set[str]) -> Completion:
    answers = tuple(_answer(request, index) for index in range(request.choices))
    return Completion(
        request=request,
        id=f"chatcmpl-{digest('completion', request.model.id, request.messages)[:24]}",
        created=int(time.time()),
        answers=answers,
        cache=use_cache(cache, request.model.id, request.prompt, request.cache_retention),
    )


def _choice(completion: Completion, index: int, answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.reasoning is not None:
        message["reasoning_content"] = answer.reasoning
    message.update(refusal=None, audio=None)
    top = completion.request.logprobs
    logprobs = None
    if top is not None:
        logprobs = {"content": token_logprobs(split_tokens(answer.content), answer.tag, top), "refusal": None}
    return {"finish_reason": answer.finish_reason, "index": index, "logprobs": logprobs, "message": message}


def completion_body(completion: Completion) -> dict[str, Any]:
    return {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.request.model.id,
        "choices": [_choice(completion, i, answer) for i, answer in enumerate(completion.answers)],
        "service_tier": None,
        "system_fingerprint": completion.fingerprint,
        "usage": completion.usage(),
    }


def chat_completions(request: Request) -> RouteAnswer:
    """The route's handler: the whole completion, or its chunks when `stream` is true."""
    # routes.py imports this module, so its Stream is imported when first needed, not at the top.
    from sandbox.inference.routes import Stream  # noqa: PLC0415

    chat = read_chat_request(request.body)
    completion = complete(chat, request.state.cache)
    if chat.stream:
        # Built whole before the first byte goes out: a stream cannot turn into an error halfway.
        return Stream(iter(chunks(completion)))
    return 200, completion_body(completion)
