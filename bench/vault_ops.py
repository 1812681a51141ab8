"""Benchmark: the cost of a ledger read and of a secret write against a real OpenBao on loopback.

A ledger read is one metadata GET (no secret read). A write is a metadata GET (no-churn and
conflict check), the check-and-set data POST and the ledger-mirror POST. Both are measured
through `VaultSink`, with the Vault requests each one makes.

    .venv/bin/python -m bench.vault_ops [--ops 300] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao import start_dev_server

RESULTS = Path(__file__).resolve().parent / "results" / "vault_ops.json"


def measure(sink: VaultSink, operation: Callable[[int], object], count: int) -> dict[str, float]:
    timings = []
    before = sink.requests_made
    for i in range(count):
        started = time.perf_counter()
        operation(i)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 3),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 3),
        "requests_per_op": round((sink.requests_made - before) / count, 2),
        "ops_per_second": round(count / (sum(timings) / 1000), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, start_dev_server(log_path=Path(tmp) / "bao.log") as server:
        sink = VaultSink(environ={"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token})
        versions = {"bench/key": 0}

        def write(i: int) -> None:
            secret = Secret(f"sk-do-bench-secret-{i:06d}")
            ledger = Ledger(secret.fingerprint, "2026-11-25T00:00:00Z", slot_a="a", slot_b="b")
            versions["bench/key"] = sink.write("bench/key", secret, ledger, versions["bench/key"]).version

        results = {
            "secret write (new version, check-and-set)": measure(sink, write, args.ops),
            "ledger read (metadata only)": measure(sink, lambda _i: sink.read_ledger("bench/key"), args.ops),
            "secret read (for verify)": measure(sink, lambda _i: sink.read_secret("bench/key"), args.ops),
        }

    document = {
        "benchmark": "Vault sink operations on loopback (OpenBao dev server, in-memory storage)",
        "ops_each": args.ops,
        "results": results,
        "machine": {"python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"{args.ops} operations each")
    print("| operation | Vault requests | median ms | p95 ms | ops/s |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['requests_per_op']} | {r['median_ms']} | {r['p95_ms']} | {r['ops_per_second']} |"
        )


if __name__ == "__main__":
    main()
