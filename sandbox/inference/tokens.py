"""Tokens, as the sandbox counts them, and the deterministic text it generates.

A token is a whitespace-separated word: a stable stand-in for a tokenizer, good enough for usage
accounting and for truncating a reply to `max_completion_tokens`. Generated text depends only on
what it is generated from (a digest of the request), so the same request gets the same reply.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["count_tokens", "digest", "first_tokens", "split_tokens", "words"]


def digest(*parts: Any) -> str:
    """A stable hex digest of JSON-ready values."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def split_tokens(text: str) -> list[str]:
    """The text's tokens, each but the first with its leading space, so joining them rebuilds a
    single-spaced text (streamed deltas concatenate to the whole reply)."""
    words = text.split()
    return words[:1] + [f" {word}" for word in words[1:]]


def count_tokens(text: str) -> int:
    return len(text.split())


def first_tokens(text: str, limit: int) -> str:
    """The text cut to its first `limit` tokens."""
    return "".join(split_tokens(text)[:limit])


def words(count: int) -> str:
    """`1 word`, `3 words`: the sandbox's replies say how many words they received."""
    return f"{count} word" + ("" if count == 1 else "s")
