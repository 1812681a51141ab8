"""The Responses API's server-sent events (`stream: true`), as OpenAI's SDK reads them:
`response.created`, `response.in_progress`, for each output item its `output_item.added`,
`content_part.added`, one delta per token (`output_text.delta` or `reasoning_text.delta`), the
matching `.done` events, then `response.completed` (`response.incomplete` when capped by
`max_output_tokens`). Every event carries its `sequence_number`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

from sandbox.inference.tokens import split_tokens

__all__ = ["response_events"]

Event = dict[str, Any]
Numbered = Callable[..., Event]


def response_events(response: dict[str, Any]) -> Iterator[Event]:
    numbers = count()

    def event(kind: str, **fields: Any) -> Event:
        return {"type": kind, "sequence_number": next(numbers), **fields}

    started = {**response, "status": "in_progress", "output": [], "usage": None, "completed_at": None}
    started["incomplete_details"] = None
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        yield from _item_events(event, index, item)
    final = "response.completed" if response["status"] == "completed" else "response.incomplete"
    yield event(final, response=response)


def _item_events(event: Numbered, index: int, item: dict[str, Any]) -> Iterator[Event]:
    part = item["content"][0]
    kind = part["type"]  # reasoning_text or output_text
    place = {"item_id": item["id"], "output_index": index, "content_index": 0}
    # Output text events carry logprobs (none asked, so empty); reasoning text events have none.
    extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
    yield event(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    yield event("response.content_part.added", part={**part, "text": ""}, **place)
    for token in split_tokens(part["text"]):
        yield event(f"response.{kind}.delta", delta=token, **place, **extra)
    yield event(f"response.{kind}.done", text=part["text"], **place, **extra)
    yield event("response.content_part.done", part=part, **place)
    yield event("response.output_item.done", output_index=index, item=item)
