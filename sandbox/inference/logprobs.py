"""Log probabilities for generated tokens (`logprobs: true`, `top_logprobs: N`), in OpenAI's
`ChatCompletionTokenLogprob` shape. Deterministic: a token's log probability comes from a digest
of the reply and its position; the alternatives rank below the token chosen."""

from __future__ import annotations

from typing import Any

from sandbox.inference.tokens import digest

__all__ = ["token_logprobs"]


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def token_logprobs(tokens: list[str], tag: str, top: int, start: int = 0) -> list[dict[str, Any]]:
    """One entry per token; `start` is the first token's position in the reply (for streamed parts)."""
    entries = []
    for position, token in enumerate(tokens, start):
        chosen = -round(int(digest(tag, position)[:4], 16) / 0xFFFF, 6)
        alternatives = [_entry(token, chosen)] + [
            _entry(f"{token}{'~' * rank}", round(chosen - rank, 6)) for rank in range(1, top)
        ]
        entries.append({**_entry(token, chosen), "top_logprobs": alternatives[:top]})
    return entries
