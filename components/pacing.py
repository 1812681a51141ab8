"""Client-side pacing and backoff under DigitalOcean's two rate limits.

DigitalOcean counts each request for an hour and, for its burst limit, for a minute (250 per
minute, 5,000 per hour by default; description.yml, "Rate Limit"). Its headers report only the
hourly quota: `ratelimit-remaining` and `ratelimit-reset` (when the oldest counted request
expires). The burst limit never shows until it refuses (429 + `retry-after`), so the pacer is told
it (`burst_per_minute`) and spaces requests evenly a little under it: a token bucket refilled at
`BURST_HEADROOM` of the limit, holding one and a half tokens so a late request is partly caught
up on. The hourly quota it reads from the headers, and spreads what is left evenly over the time
until the reset once it runs low, so a run that would exhaust it slows down instead of bouncing
off 429s; a later run starts from what the headers say is left.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "BURST_HEADROOM",
    "DEFAULT_BURST_PER_MINUTE",
    "Backoff",
    "RateLimitPacer",
    "RateLimitState",
    "parse_rate_headers",
]

DEFAULT_BURST_PER_MINUTE = 250.0  # DigitalOcean's documented burst limit per token
# The share of the burst limit used: the rest absorbs the jitter between a request leaving here
# and DigitalOcean counting it, and the one request the bucket lets go ahead of the schedule.
BURST_HEADROOM = 0.96


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

    `burst_per_minute` is the burst limit to stay under (None or 0: no burst pacing): requests go
    out on an even schedule at `BURST_HEADROOM` of it, at most half an interval ahead of the
    schedule (a token bucket holding one and a half tokens). On a test window the limit scales with
    it: 60 requests per 1 s is 3,600 per minute.

    `low_water` is the remaining budget reported by the headers below which that budget is spread
    evenly until its reset (the default, 25, is a tenth of the burst limit); above it only the
    burst spacing applies.
    """

    def __init__(
        self,
        low_water: int = 25,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 120.0,
        burst_per_minute: float | None = None,
    ) -> None:
        self.low_water = low_water
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset: float | None = None
        self._interval = 0.0
        self._due = -math.inf  # when the next request is due on an even schedule
        self.burst_per_minute = burst_per_minute
        self.waited_seconds = 0.0

    @property
    def burst_per_minute(self) -> float | None:
        return self._burst

    @burst_per_minute.setter
    def burst_per_minute(self, value: float | None) -> None:
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ValueError(f"burst_per_minute must be 0 (no burst pacing) or positive, not {value!r}")
        with self._lock:
            self._burst = value or None
            self._interval = 60.0 / (value * BURST_HEADROOM) if value else 0.0

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
        """Seconds to wait before the next request, and book that request against the budgets."""
        with self._lock:
            now = self._clock()
            # GCRA: a request may go half an interval ahead of the even schedule (`_due`), so a late
            # one (a slow Vault write) is partly caught up on, yet no window holds more than one extra.
            early = self._due - self._interval / 2
            wait = min(max(self._budget_wait(now), early - now, 0.0), self.max_wait)
            if self._interval:
                self._due = max(self._due, now + wait) + self._interval
            return wait

    def _budget_wait(self, now: float) -> float:
        """The wait the headers' budget asks for (lock held); books one request against it."""
        if self._remaining is None or self._reset is None or self._remaining > self.low_water:
            if self._remaining is not None:
                self._remaining -= 1
            return 0.0
        window = max(0.0, self._reset - now)
        # Even spacing over what is left; with nothing left, wait for the oldest request to expire.
        wait = window if self._remaining <= 0 else window / (self._remaining + 1)
        self._remaining -= 1
        if self._remaining < 0:
            # Past the reset the server will say how much budget came back; until then assume one.
            self._remaining = 0
            self._reset = now + wait
        return wait

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
