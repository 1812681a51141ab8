"""Benchmark: bulk rotation throughput as a fraction of DigitalOcean's burst limit.

DigitalOcean allows 250 requests per minute (its burst limit) and 5,000 per hour per token, and
reports only the hourly quota in its headers: the burst limit shows when it refuses, as 429 +
`retry-after`. To measure in seconds rather than hours the sandbox runs with the same kind of
budget, scaled down: by default 50 requests per 2 s window (25/s) and, in the same proportion as
DigitalOcean's (the minute is 5% of the hour), 1,000 per 120 s "hour". 25/s is about half of what
this rotation does unpaced on a 2-core machine (DigitalOcean's 4/s is a tenth of it), so the figure
measures the pacer, not the machine. The command is told the burst limit as a user would tell it
DigitalOcean's (GRADIENT_KEYS_DO_BURST_PER_MINUTE, here 50 per 2 s = 1,500 per minute) and reads
the hourly quota from the headers.

Keys are dual-slot, due, and managed in a real OpenBao; the rotation runs as `gradient-keys rotate
--due` in its own process, as a scheduled job would. Reported: the sustained rate of DigitalOcean
requests (first to last, as the emulator counted them) as a fraction of the burst limit, the most
requests any one window counted, the 429s, and where the time went: the command's own split
(`summary.time`: the pacer's waits, DigitalOcean's answers, Vault's, the check of each new secret at
the inference endpoint, the rest), and as a cross-check the same rotation run again without a rate
limit (the work itself; pacing by difference is the rest).

    .venv/bin/python -m bench.rotate_bulk [--keys 600] [--budget 50] [--window 2] \\
        [--headers documented|minute] [--out FILE]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.seeding import rotate_command, seed_due_dual_slot
from components.do_keys import BURST_ENV
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer, start_dev_server
from sandbox.ratelimit import HEADER_MODES, Decision
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "rotate_bulk.json"
HOUR_PER_MINUTE = 20  # DigitalOcean: 5,000 an hour, 250 a minute


@dataclass
class _Run:
    wall: float
    summary: dict[str, Any]
    allowed: list[float] = field(default_factory=list)  # when the emulator counted each request
    refused: int = 0
    hourly_remaining: tuple[int, int] = (0, 0)  # the header, before and after


def _record_hits(emulator: Emulator, run: _Run) -> None:
    """Note when the emulator's limiter counts (or refuses) each request of the rotation."""
    limiter = emulator.limiter
    hit = limiter.hit
    lock = threading.Lock()

    def counted(token: str) -> Decision:
        decision = hit(token)
        with lock:
            if decision.allowed:
                run.allowed.append(time.time())
            else:
                run.refused += 1
        return decision

    limiter.hit = counted  # type: ignore[method-assign]


def _rotate(args: argparse.Namespace, bao: OpenBaoServer, tmp: Path, name: str, *, limited: bool) -> _Run:
    budget, window = (args.budget, args.window) if limited else (0, args.window)
    config = EmulatorConfig(
        rate_limit_per_minute=budget,
        rate_limit_per_hour=budget * HOUR_PER_MINUTE,
        minute_seconds=window,
        hour_seconds=window * 60,
        rate_limit_headers=args.headers,
    )
    with Emulator(config) as emulator:
        env = {
            "DIGITALOCEAN_API_URL": emulator.base_url,
            "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
            "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
            BURST_ENV: f"{budget * 60 / window:g}",
            "VAULT_ADDR": bao.address,
            "VAULT_TOKEN": bao.root_token,
        }
        sink = VaultSink(path_prefix=f"bench-{name}", environ=env)
        stack = tmp / f"Pulumi.{name}.yaml"
        seed_due_dual_slot(emulator, sink, args.keys, stack, name=name)
        emulator.stats.reset()
        emulator.limiter.reset()
        before = emulator.limiter.peek(DEFAULT_TOKEN).remaining
        run = _Run(0.0, {})
        _record_hits(emulator, run)
        started = time.perf_counter()
        result = subprocess.run(
            rotate_command(stack, sys.executable),
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        run.wall = time.perf_counter() - started
        run.summary = json.loads(result.stdout)["summary"]
        run.hourly_remaining = (before, emulator.limiter.peek(DEFAULT_TOKEN).remaining)
    return run


def _busiest_window(times: list[float], window: float) -> int:
    """The most requests any sliding window of `window` seconds held (the emulator's own rule)."""
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def _per_key(run: _Run) -> float:
    return round(int(run.summary["vault_requests"]) / max(int(run.summary["rotated"]), 1), 2)


def _document(args: argparse.Namespace, paced: _Run, free: _Run) -> dict[str, Any]:
    burst_rate = args.budget / args.window
    times = sorted(paced.allowed)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    sustained = (len(times) - 1) / span if span else 0.0
    seconds, free_seconds = paced.summary["seconds"], free.summary["seconds"]
    return {
        "benchmark": "bulk rotation (gradient-keys rotate --due) under DigitalOcean's rate limits",
        "keys": args.keys,
        "headers": args.headers,
        "burst_limit": f"{args.budget} requests per {args.window:g}s ({burst_rate:g}/s), told to the client",
        "hourly_quota": f"{args.budget * HOUR_PER_MINUTE} per {args.window * 60:g}s, read from the headers",
        "rotated": paced.summary["rotated"],
        "failed": paced.summary["failed"],
        "digitalocean_requests": paced.summary["digitalocean_requests"],
        "refused_with_429": paced.refused,
        "sustained_requests_per_second": round(sustained, 2),
        "fraction_of_burst_limit": round(sustained / burst_rate, 3),
        "busiest_window_requests": _busiest_window(times, args.window),
        "hourly_remaining_before_after": list(paced.hourly_remaining),
        "time_seconds": {
            "wall": round(paced.wall, 2),
            "process_start_and_plan": round(paced.wall - seconds, 2),
            "rotation": round(seconds, 2),
            # the command's own split of the rotation (`summary.time`, timed by its clients)
            **{part: round(value, 2) for part, value in paced.summary["time"].items()},
            "rotation_without_rate_limit": round(free_seconds, 2),
            "pacing_by_difference": round(max(0.0, seconds - free_seconds), 2),
        },
        "unpaced_requests_per_second": round(free.summary["digitalocean_requests"] / free_seconds, 2),
        "vault_requests_per_key": round(
            paced.summary["vault_requests"] / max(paced.summary["rotated"], 1), 2
        ),
        "date": time.strftime("%Y-%m-%d"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=600)
    parser.add_argument("--budget", type=int, default=50, help="burst limit: requests per window")
    parser.add_argument("--window", type=float, default=2.0, help="burst window in seconds")
    parser.add_argument("--headers", choices=HEADER_MODES, default="documented")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, start_dev_server(log_path=Path(tmp) / "bao.log") as bao:
        paced = _rotate(args, bao, Path(tmp), "paced", limited=True)
        free = _rotate(args, bao, Path(tmp), "free", limited=False)
    document = _document(args, paced, free)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
