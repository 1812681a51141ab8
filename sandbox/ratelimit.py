"""DigitalOcean's per-token rate limit: a sliding hour and a sliding minute ("burst").

As documented in the API introduction: every request counts for one hour (and, for the burst
limit, one minute) from when it was made; `ratelimit-reset` is when the oldest counted request
expires; a burst refusal adds `retry-after`. Refused requests are not counted.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "RateLimiter"]

UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix epoch seconds
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset),
        }
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        return headers


class _Windows:
    def __init__(self) -> None:
        self.minute: deque[float] = deque()
        self.hour: deque[float] = deque()


class RateLimiter:
    """Per-token sliding windows. A budget of 0 disables that window."""

    def __init__(
        self,
        per_minute: int = 250,
        per_hour: int = 5000,
        minute_seconds: float = 60.0,
        hour_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.minute_seconds = minute_seconds
        self.hour_seconds = hour_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Windows] = {}

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()

    def peek(self, token: str) -> Decision:
        """The headers a request would carry, without counting it (used for 401 responses)."""
        with self._lock:
            now = self._clock()
            windows = self._tokens.get(token) or _Windows()
            self._prune(windows, now)
            return self._decision(windows, now, allowed=True)

    def hit(self, token: str) -> Decision:
        with self._lock:
            now = self._clock()
            windows = self._tokens.setdefault(token, _Windows())
            self._prune(windows, now)
            if self.per_minute and len(windows.minute) >= self.per_minute:
                wait = windows.minute[0] + self.minute_seconds - now
                decision = self._decision(windows, now, allowed=False)
                return Decision(False, decision.limit, 0, decision.reset, max(1, math.ceil(wait)))
            if self.per_hour and len(windows.hour) >= self.per_hour:
                decision = self._decision(windows, now, allowed=False)
                return Decision(False, decision.limit, 0, decision.reset)
            windows.minute.append(now)
            windows.hour.append(now)
            return self._decision(windows, now, allowed=True)

    def _prune(self, windows: _Windows, now: float) -> None:
        while windows.minute and windows.minute[0] <= now - self.minute_seconds:
            windows.minute.popleft()
        while windows.hour and windows.hour[0] <= now - self.hour_seconds:
            windows.hour.popleft()

    def _decision(self, windows: _Windows, now: float, allowed: bool) -> Decision:
        # `remaining` is the tighter of the two budgets, so a client pacing itself on it slows
        # down before either limit refuses it; `reset` is when that budget next grows.
        candidates: list[tuple[int, float]] = []
        if self.per_hour:
            oldest = windows.hour[0] + self.hour_seconds if windows.hour else now
            candidates.append((self.per_hour - len(windows.hour), oldest))
        if self.per_minute:
            oldest = windows.minute[0] + self.minute_seconds if windows.minute else now
            candidates.append((self.per_minute - len(windows.minute), oldest))
        limit = self.per_hour or self.per_minute
        if not candidates:  # both budgets disabled: report a budget no client will pace on
            return Decision(allowed, UNLIMITED, UNLIMITED, math.ceil(now))
        remaining, reset_at = min(candidates)
        return Decision(allowed, limit, max(0, remaining), math.ceil(reset_at))
