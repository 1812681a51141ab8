"""Client-side pacing and backoff from DigitalOcean's rate-limit headers.

DigitalOcean counts each request against a sliding window and reports, on every response,
`ratelimit-remaining` and `ratelimit-reset` (when the oldest counted request expires). The pacer
spreads the remaining budget evenly over the time until that reset once the budget runs low, so
bulk work slows down before it is refused instead of bouncing off 429s.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Backoff", "RateLimitPacer", "RateLimitState", "parse_rate_headers"]


@dataclass(frozen=True)
class RateLimitState:
    limit: int | None
    remaining: int | None
    reset: float | None  # Unix epoch seconds
    retry_after: float | None


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_rate_headers(headers: Mapping[str, str]) -> RateLimitState:
    """Read `ratelimit-*` and `retry-after` (header names are case-insensitive in azure-core)."""
    limit = _header_number(headers, "ratelimit-limit")
    remaining = _header_number(headers, "ratelimit-remaining")
    return RateLimitState(
        limit=int(limit) if limit is not None else None,
        remaining=int(remaining) if remaining is not None else None,
        reset=_header_number(headers, "ratelimit-reset"),
        retry_after=_header_number(headers, "retry-after"),
    )


class RateLimitPacer:
    """Shared by every call a client makes; safe to use from several threads.

    `low_water` is the remaining budget below which pacing starts. The default (25) is a tenth of
    DigitalOcean's 250-per-minute burst budget: above it requests go out at full speed.
    """

    def __init__(
        self,
        low_water: int = 25,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 120.0,
    ) -> None:
        self.low_water = low_water
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset: float | None = None
        self.waited_seconds = 0.0

    def observe(self, state: RateLimitState) -> None:
        with self._lock:
            if state.remaining is not None:
                self._remaining = state.remaining
            if state.reset is not None:
                self._reset = state.reset
            if state.retry_after is not None:
                # A burst refusal: the budget is back after retry-after, not at the hourly reset.
                self._reset = self._clock() + state.retry_after

    def delay(self) -> float:
        """Seconds to wait before the next request, and book that request against the budget."""
        with self._lock:
            if self._remaining is None or self._reset is None or self._remaining > self.low_water:
                if self._remaining is not None:
                    self._remaining -= 1
                return 0.0
            window = max(0.0, self._reset - self._clock())
            # Even spacing over what is left; with nothing left, wait for the oldest request to expire.
            wait = window if self._remaining <= 0 else window / (self._remaining + 1)
            self._remaining -= 1
            if self._remaining < 0:
                # Past the reset the server will say how much budget came back; until then assume one.
                self._remaining = 0
                self._reset = self._clock() + wait
            return min(wait, self.max_wait)

    def wait_turn(self) -> None:
        wait = self.delay()
        if wait > 0:
            self.waited_seconds += wait
            self._sleep(wait)


@dataclass
class Backoff:
    """Bounded exponential backoff with full jitter, overridden by what the server asks for."""

    base: float = 0.5
    cap: float = 30.0
    max_wait: float = 120.0
    clock: Callable[[], float] = time.time

    def delay(self, attempt: int, state: RateLimitState | None = None) -> float:
        """Wait before retry number `attempt` (1-based); None-safe when there are no headers."""
        if state is not None:
            if state.retry_after is not None:
                return state.retry_after
            if state.remaining == 0 and state.reset is not None:
                return max(0.0, state.reset - self.clock())
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))
