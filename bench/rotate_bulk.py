"""Benchmark: bulk rotation throughput as a fraction of DigitalOcean's rate limit.

DigitalOcean allows 250 requests per minute per token. To measure in seconds rather than hours,
the sandbox runs with the same kind of budget on a shorter window (default 100 requests per
2 s, i.e. 50/s); what matters is the fraction of the budget the rotation uses and whether it
ever hits a 429. Keys are dual-slot, due, and managed in a real OpenBao; the rotation runs as
`gradient-keys rotate --due` in its own process, as a scheduled job would.

    .venv/bin/python -m bench.rotate_bulk [--keys 600] [--budget 100] [--window 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.seeding import rotate_command, seed_due_dual_slot
from components.vault_sink import VaultSink
from sandbox.openbao import start_dev_server
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "rotate_bulk.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=600)
    parser.add_argument("--budget", type=int, default=100, help="requests per window")
    parser.add_argument("--window", type=float, default=2.0, help="window length in seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    config = EmulatorConfig(
        rate_limit_per_minute=args.budget, rate_limit_per_hour=0, minute_seconds=args.window
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_dev_server(log_path=Path(tmp) / "bao.log") as bao,
        Emulator(config) as emulator,
    ):
        env = {
            "DIGITALOCEAN_API_URL": emulator.base_url,
            "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
            "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
            "VAULT_ADDR": bao.address,
            "VAULT_TOKEN": bao.root_token,
        }
        sink = VaultSink(path_prefix="bench", environ=env)
        stack = Path(tmp) / "Pulumi.bench.yaml"
        seed_due_dual_slot(emulator, sink, args.keys, stack, name="bench")
        emulator.stats.reset()
        started = time.perf_counter()
        result = subprocess.run(
            rotate_command(stack, sys.executable),
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - started
        summary = json.loads(result.stdout)["summary"]
        requests_seen = emulator.stats.view()["requests"]

    budget_rate = args.budget / args.window
    do_requests = summary["digitalocean_requests"]
    refused = sum(v.get("429", 0) for v in requests_seen.values())
    document = {
        "benchmark": "bulk rotation (gradient-keys rotate --due) under a rate limit",
        "keys": args.keys,
        "budget": f"{args.budget} requests per {args.window:g}s ({budget_rate:.1f}/s)",
        "rotated": summary["rotated"],
        "failed": summary["failed"],
        "wall_seconds": round(elapsed, 2),
        "digitalocean_requests": do_requests,
        "refused_with_429": refused,
        "digitalocean_requests_per_second": round(do_requests / summary["seconds"], 2),
        "fraction_of_rate_limit": round(do_requests / summary["seconds"] / budget_rate, 3),
        "vault_requests_per_key": round(summary["vault_requests"] / max(summary["rotated"], 1), 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
