"""DigitalOcean's per-token rate limit: a sliding hour and a sliding minute ("burst").

As documented in the API introduction (description.yml, "Rate Limit"): every request counts for
one hour (and, for the burst limit, one minute) from when it was made; refused requests are not
counted. Two ways to report it in the headers (`HEADER_MODES`):

- `documented` (the default), as DigitalOcean does: `ratelimit-limit` is the hourly quota,
  `ratelimit-remaining` what is left of it, `ratelimit-reset` the epoch second when its oldest
  request expires. The burst limit shows only when it refuses: 429 with `ratelimit-remaining: 0`
  and `retry-after`, the seconds until the oldest request of the minute expires.
- `minute`, the sandbox's earlier behaviour: `ratelimit-remaining` is the tighter of the hourly
  and minute budgets and `ratelimit-reset` is when that budget next grows, so a client can pace on
  the burst budget from the headers alone. DigitalOcean never says this much.

`ratelimit-*` are integers in DigitalOcean's spec and in pydo, which parses them as such, so they
stay whole seconds on every window. On a test window shorter than DigitalOcean's (see
`RateLimiter.precise`), `retry-after` is given to the millisecond: a whole second would be the
entire window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sandbox.options import HEADER_MODES

__all__ = ["HEADER_MODES", "Decision", "HeaderMode", "RateLimiter"]

UNLIMITED = 1_000_000
HeaderMode = Literal["documented", "minute"]  # sandbox.options.HEADER_MODES, for the parser
MINUTE, HOUR = 60.0, 3600.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix epoch seconds
    retry_after: float | None = None
    precise: bool = False  # retry-after to the millisecond (test windows), else whole seconds

    def headers(self) -> dict[str, str]:
        headers = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset),
        }
        if self.retry_after is not None:
            seconds = f"{self.retry_after:.3f}" if self.precise else str(math.ceil(self.retry_after))
            headers["retry-after"] = seconds
        return headers


class _Windows:
    def __init__(self) -> None:
        self.minute: deque[float] = deque()
        self.hour: deque[float] = deque()


class RateLimiter:
    """Per-token sliding windows. A budget of 0 disables that window.

    `minute_seconds` and `hour_seconds` shorten the windows for tests; `headers` picks what the
    `ratelimit-*` headers report (module docstring).
    """

    def __init__(  # noqa: PLR0913 - the budgets and their windows, then keyword-only choices
        self,
        per_minute: int = 250,
        per_hour: int = 5000,
        minute_seconds: float = MINUTE,
        hour_seconds: float = HOUR,
        *,
        clock: Callable[[], float] = time.time,
        headers: HeaderMode = "documented",
    ) -> None:
        if headers not in HEADER_MODES:
            raise ValueError(f"rate-limit headers must be one of {', '.join(HEADER_MODES)}, not {headers!r}")
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.minute_seconds = minute_seconds
        self.hour_seconds = hour_seconds
        self.headers: HeaderMode = headers
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Windows] = {}

    @property
    def precise(self) -> bool:
        """A window shorter than DigitalOcean's: `retry-after` carries milliseconds."""
        return self.minute_seconds < MINUTE or self.hour_seconds < HOUR

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
                retry_after = max(0.001, wait) if self.precise else max(1, math.ceil(wait))
                return Decision(False, decision.limit, 0, decision.reset, retry_after, self.precise)
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

    def _budgets(self, windows: _Windows, now: float) -> list[tuple[int, float]]:
        """(remaining, when it next grows) of each enabled window the headers report: the hour, and
        in `minute` mode the minute too."""
        budgets: list[tuple[int, float]] = []
        if self.per_hour:
            oldest = windows.hour[0] + self.hour_seconds if windows.hour else now
            budgets.append((self.per_hour - len(windows.hour), oldest))
        if self.per_minute and self.headers == "minute":
            oldest = windows.minute[0] + self.minute_seconds if windows.minute else now
            budgets.append((self.per_minute - len(windows.minute), oldest))
        return budgets

    def _decision(self, windows: _Windows, now: float, allowed: bool) -> Decision:
        # `minute` mode: `remaining` is the tighter of the two budgets, so a client pacing itself on
        # it slows down before either limit refuses it; `reset` is when that budget next grows.
        budgets = self._budgets(windows, now)
        if not budgets:  # no budget to report: one no client will pace on
            return Decision(allowed, UNLIMITED, UNLIMITED, math.ceil(now))
        limit = self.per_hour or self.per_minute
        remaining, reset_at = min(budgets)
        return Decision(allowed, limit, max(0, remaining), math.ceil(reset_at))
