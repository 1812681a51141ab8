"""Where a command's time went: seconds spent waiting on each kind of call, summed over threads.

A bulk rotation is paced to DigitalOcean's burst limit, so its wall time says little about its own
cost. The clients time their calls (one `Stopwatch` each) and the rotation summary reports the split:
pacing, DigitalOcean, Vault, verification at the inference endpoint, and the rest (our own work).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stopwatch:
    """Seconds spent inside `timing()` blocks, and how many there were (thread-safe)."""

    seconds: float = 0.0
    calls: int = 0
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            elapsed = self.clock() - started
            with self._lock:
                self.seconds += elapsed
                self.calls += 1


def breakdown(wall: float, parts: dict[str, float]) -> dict[str, float]:
    """`parts` rounded, plus `other`: the wall time no part accounts for (never below 0; with
    concurrent workers the parts are busy time and may add up to more than the wall)."""
    rounded = {name: round(seconds, 3) for name, seconds in parts.items()}
    rounded["other"] = round(max(0.0, wall - sum(parts.values())), 3)
    return rounded
