"""Benchmark: list 10,000 model access keys through the real pydo client against the sandbox.

Measures the requests made (the floor is ceil(10,000 / 200) = 50) and the wall time, for the
client (per_page 200) and, side by side, a naive pager using the API's default page size (20).
The sandbox runs as a separate process, as it would for a user, with rate limits off so the
numbers are the client's and the server's own cost, not time spent waiting on a budget.

    .venv/bin/python -m bench.list_keys [--keys 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from components.do_keys import PAGE_SIZE, ClientSettings, ModelKeys
from components.secret import Secret
from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN
from sandbox.store import KeyStore

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "list_keys.json"


def seed_state(path: Path, count: int) -> None:
    store = KeyStore(path)
    store.create_many(f"bench-key-{i:05d}" for i in range(count))  # one write
    store.close()


def naive_list(client: ModelKeys) -> int:
    """What a first attempt does: pydo's defaults (20 per page), following pages one by one."""
    page, seen = 1, 0
    while True:
        body: Any = client._client.genai.list_model_api_keys(page=page)
        seen += len(body["api_key_infos"])
        if page >= body["meta"]["pages"]:
            return seen
        page += 1


def server_requests(url: str) -> int:
    reply = requests.get(
        f"{url}/_sandbox/stats", headers={"Authorization": f"Bearer {DEFAULT_ADMIN_TOKEN}"}, timeout=10
    )
    return int(reply.json()["requests"].get("list", {}).get("200", 0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "keys.db"
        seed_state(state, args.keys)
        server = subprocess.Popen(
            [sys.executable, "-m", "sandbox.emulator", "--port", "0", "--state", str(state),
             "--rate-limit-per-minute", "0", "--rate-limit-per-hour", "0"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            settings = ClientSettings(api_url=url, token=Secret(DEFAULT_TOKEN))
            results: dict[str, Any] = {}
            contenders = (("gradient-keys (per_page 200)", None), ("naive (default per_page 20)", naive_list))
            for label, runner in contenders:
                times, made = [], []
                for _ in range(args.runs):
                    before = server_requests(url)
                    with ModelKeys(settings) as client:
                        started = time.perf_counter()
                        count = len(client.list_all()) if runner is None else runner(client)
                        times.append(time.perf_counter() - started)
                    assert count == args.keys, f"{label} saw {count} keys"
                    made.append(server_requests(url) - before)
                results[label] = {
                    "requests": made[0],
                    "requests_all_runs_equal": len(set(made)) == 1,
                    "median_seconds": round(statistics.median(times), 3),
                    "min_seconds": round(min(times), 3),
                    "max_seconds": round(max(times), 3),
                }
        finally:
            server.terminate()
            server.wait(timeout=10)

    document = {
        "benchmark": "list all model access keys",
        "keys": args.keys,
        "runs": args.runs,
        "request_floor": math.ceil(args.keys / PAGE_SIZE),
        "results": results,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"listing {args.keys} keys, {args.runs} runs, request floor {document['request_floor']}")
    print("| client | requests | median s | min s | max s |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        cells = [label, r["requests"], r["median_seconds"], r["min_seconds"], r["max_seconds"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
