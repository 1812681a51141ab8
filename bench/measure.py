"""What every figure of the benchmark suite reports besides its own numbers: the spread of a
measurement over its runs, and the machine it ran on (a noisy 2-core machine's numbers compare
only with its load noted)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

__all__ = ["machine", "ratio", "spread"]


def spread(values: list[float]) -> dict[str, Any]:
    """Median, min and max of one figure over its runs, and the runs themselves."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def ratio(baseline: float, ours: float) -> float | None:
    """How many times the baseline's figure ours is (None where ours is 0: nothing to divide)."""
    return round(baseline / ours, 2) if ours else None


def machine() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
