"""Prompt caching, as DigitalOcean documents it for chat completions: `usage` says how many prompt
tokens a request wrote to the cache and how many it read from it.

Anthropic style: each `cache_control` marks a breakpoint; the tokens since the previous breakpoint
are cached for that breakpoint's `ttl` (5m or 1h). OpenAI style: `prompt_cache_retention`
(`in_memory` or `24h`) caches the whole prompt (counted as 5m and 1h). A later request whose prompt
starts with a cached prefix (same model, same text up to a breakpoint) reads those tokens instead.
The cache is the emulator's (`InferenceState.cache`: digests only); entries do not expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.inference.messages import Prompt
from sandbox.inference.tokens import count_tokens, digest

__all__ = ["RETENTIONS", "CacheUsage", "use_cache"]

# prompt_cache_retention -> the cache_creation bucket its tokens are counted in.
RETENTIONS = {"in_memory": "5m", "24h": "1h"}


@dataclass(frozen=True)
class CacheUsage:
    read: int = 0
    created_5m: int = 0
    created_1h: int = 0

    def usage_fields(self) -> dict[str, Any]:
        """The fields DigitalOcean adds to `usage` (the gradient SDK requires them on every usage)."""
        return {
            "cache_created_input_tokens": self.created_5m + self.created_1h,
            "cache_creation": {
                "ephemeral_1h_input_tokens": self.created_1h,
                "ephemeral_5m_input_tokens": self.created_5m,
            },
            "cache_read_input_tokens": self.read,
        }


@dataclass(frozen=True)
class _Breakpoint:
    key: str  # digest of the model and the prompt up to here
    tokens: int  # tokens since the previous breakpoint
    ttl: str


def _breakpoints(model_id: str, prompt: Prompt, retention: str | None) -> list[_Breakpoint]:
    found: list[_Breakpoint] = []
    run = 0
    for end, segment in enumerate(prompt.segments):
        run += count_tokens(segment.text)
        if segment.cache_ttl is not None:
            prefix = [(s.role, s.text) for s in prompt.segments[: end + 1]]
            found.append(_Breakpoint(digest("prompt-cache", model_id, prefix), run, segment.cache_ttl))
            run = 0
    if not found and retention is not None:
        whole = [(s.role, s.text) for s in prompt.segments]
        found.append(_Breakpoint(digest("prompt-cache", model_id, whole), run, RETENTIONS[retention]))
    return found


def use_cache(cache: set[str], model_id: str, prompt: Prompt, retention: str | None) -> CacheUsage:
    """Read the longest cached prefix, write the rest up to the last breakpoint."""
    points = _breakpoints(model_id, prompt, retention)
    hit = max((i for i, point in enumerate(points) if point.key in cache), default=-1)
    written = points[hit + 1 :]
    cache.update(point.key for point in written)
    return CacheUsage(
        read=sum(point.tokens for point in points[: hit + 1]),
        created_5m=sum(point.tokens for point in written if point.ttl == "5m"),
        created_1h=sum(point.tokens for point in written if point.ttl == "1h"),
    )
