"""Benchmark: regenerate keys against a sandbox holding 10,000 keys, by how it keeps its state.

Three emulators, each its own process as a user runs it, rate limits off, one client regenerating
one key after another (each regenerate is one write to the key table):

- `memory`: no `--state`, the ceiling;
- `json rewrite (naive)`: the version-1 state file, the whole JSON document written and renamed on
  every change (`JsonRewriteTable`, kept here only as the baseline);
- `sqlite`: `--state FILE` as shipped (`sandbox.keydb`: one row per change, WAL).

    .venv/bin/python -m bench.sandbox_state [--keys 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

from sandbox.keydb import StoredAgent, StoredKey, read_json_state
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig
from sandbox.store import KeyStore

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "sandbox_state.json"
API = "/v2/gen-ai/models/api_keys"
MODES = ("memory", "json rewrite (naive)", "sqlite")
NO_LIMITS = ["--rate-limit-per-minute", "0", "--rate-limit-per-hour", "0"]


class JsonRewriteTable:
    """The version-1 persistence: every change rewrites the whole JSON document (write, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys = {key.uuid: key for key in read_json_state(path)} if path.exists() else {}

    def load(self) -> list[StoredKey]:
        return list(self._keys.values())

    def insert(self, keys: Sequence[StoredKey]) -> None:
        self._keys.update((key.uuid, key) for key in keys)
        self._rewrite()

    def update(self, key: StoredKey) -> None:
        self._keys[key.uuid] = key
        self._rewrite()

    def delete(self, key_uuid: str) -> None:
        self._keys.pop(key_uuid, None)
        self._rewrite()

    def clear(self) -> None:
        self._keys.clear()
        self._rewrite()

    def load_agents(self) -> list[StoredAgent]:
        return []  # the version-1 format had no agents, and the benchmark makes none

    def insert_agent(self, agent: StoredAgent) -> None:
        raise NotImplementedError("the version-1 JSON format has no agents")

    def close(self) -> None:
        return None

    def _rewrite(self) -> None:
        document = {"version": 1, "keys": [asdict(k) for k in self._keys.values()]}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sandbox-state-")
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
        os.replace(tmp, self.path)


def serve(mode: str, state: Path, keys: int) -> None:
    """Run an emulator for `mode` in this process (the benchmark starts it as a child)."""
    emulator = Emulator(EmulatorConfig(rate_limit_per_minute=0, rate_limit_per_hour=0))
    if mode == "json rewrite (naive)":
        emulator.store = KeyStore(table=JsonRewriteTable(state))
    else:
        emulator.store.create_many(f"bench-key-{i:05d}" for i in range(keys))
    print(emulator.base_url, flush=True)
    emulator.serve_forever()


def start(mode: str, directory: Path, keys: int) -> subprocess.Popen[str]:
    names = (f"bench-key-{i:05d}" for i in range(keys))
    if mode == "sqlite":
        state = directory / "keys.db"
        seeded = KeyStore(state)
        seeded.create_many(names)
        seeded.close()
        command = ["-m", "sandbox.emulator", "--port", "0", "--state", str(state), *NO_LIMITS]
    else:
        state = directory / "keys.json"
        if mode != "memory":
            KeyStore(table=JsonRewriteTable(state)).create_many(names)  # one write
        command = ["-m", "bench.sandbox_state", "--serve", mode, "--state", str(state), "--keys", str(keys)]
    return subprocess.Popen([sys.executable, *command], cwd=REPO, stdout=subprocess.PIPE, text=True)


def key_uuids(session: requests.Session, url: str) -> list[str]:
    uuids, page = [], 1
    while True:
        body = session.get(f"{url}{API}", params={"page": page, "per_page": 200}, timeout=30).json()
        uuids += [info["uuid"] for info in body["api_key_infos"]]
        if page >= body["meta"]["pages"]:
            return uuids
        page += 1


def measure(mode: str, keys: int, runs: int, regenerates: int) -> dict[str, Any]:
    """Requests per second of `regenerates` sequential regenerates, `runs` times."""
    with tempfile.TemporaryDirectory() as tmp:
        server = start(mode, Path(tmp), keys)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {DEFAULT_TOKEN}"
            uuids = key_uuids(session, url)
            assert len(uuids) == keys, f"{mode}: the sandbox holds {len(uuids)} keys"
            load = os.getloadavg()[0]
            rates = []
            for run in range(runs):
                chosen = [uuids[(run * regenerates + i) % keys] for i in range(regenerates)]
                started = time.perf_counter()
                for key_uuid in chosen:
                    reply = session.put(f"{url}{API}/{key_uuid}/regenerate", json={}, timeout=30)
                    assert reply.status_code == 200, f"{mode}: regenerate answered {reply.status_code}"
                rates.append(regenerates / (time.perf_counter() - started))
        finally:
            server.terminate()
            server.wait(timeout=10)
    return {
        "regenerates_per_run": regenerates,
        "median_requests_per_second": round(statistics.median(rates), 1),
        "min_requests_per_second": round(min(rates), 1),
        "max_requests_per_second": round(max(rates), 1),
        "runs_requests_per_second": [round(r, 1) for r in rates],
        "load_average_1m_before": round(load, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--regenerates", type=int, default=1000, help="per run (memory, sqlite)")
    parser.add_argument("--naive-regenerates", type=int, default=50, help="per run (json rewrite)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)  # the child's side
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.state, args.keys)
        return

    results = {
        mode: measure(
            mode,
            args.keys,
            args.runs,
            args.naive_regenerates if mode.startswith("json") else args.regenerates,
        )
        for mode in MODES
    }
    median = {mode: r["median_requests_per_second"] for mode, r in results.items()}
    document = {
        "benchmark": "regenerate keys one after another against a sandbox with --state",
        "keys": args.keys,
        "runs": args.runs,
        "results": results,
        "sqlite_over_json_rewrite": round(median["sqlite"] / median["json rewrite (naive)"], 1),
        "sqlite_over_memory": round(median["sqlite"] / median["memory"], 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"regenerate against {args.keys} keys, {args.runs} runs (requests/s)")
    print("| state | median | min | max | load before |")
    print("|---|---|---|---|---|")
    for mode, r in results.items():
        cells = [
            mode,
            r["median_requests_per_second"],
            r["min_requests_per_second"],
            r["max_requests_per_second"],
            r["load_average_1m_before"],
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
