"""Benchmark: audit 10,000 declared keys against the sandbox and a real OpenBao.

Records DigitalOcean requests (the floor is ceil(10,000 / 200) = 50), Vault requests and wall
time for `gradient-keys audit`, and, in the same run, the naive per-key approach (each key looks
itself up in a fresh listing, since the API has no GET for one key, then reads its ledger). The
naive approach costs ~50 listing requests per key at this size, so it is measured on a sample
of keys and extrapolated; the sample size is recorded. The audit reads Vault with bounded
concurrency (8 workers, as the command does); the same audit with 1 worker is the serial baseline.
Each is run `--runs` times on the same seeded keys: median, min and max.

    .venv/bin/python -m bench.audit_scale [--keys 10000] [--naive-sample 40] [--runs 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import machine, ratio, spread
from components.audit import AuditReport, run_audit
from components.clients import ClientFactory
from components.config import parse_settings
from components.do_keys import ClientSettings, ModelKeys
from components.keys import KeyContext, KeyOperations
from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.openbao import start_dev_server
from sandbox.server import DEFAULT_TOKEN
from sandbox.store import KeyStore

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "audit_scale.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--naive-sample", type=int, default=40)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, start_dev_server(log_path=Path(tmp) / "bao.log") as bao:
        state = Path(tmp) / "keys.db"
        store = KeyStore(state)
        made = store.create_many(f"audit-{i:05d}" for i in range(args.keys))  # one write
        store.close()
        server = subprocess.Popen(
            [sys.executable, "-m", "sandbox.emulator", "--port", "0", "--state", str(state),
             "--rate-limit-per-minute", "0", "--rate-limit-per-hour", "0"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            env = {
                "DIGITALOCEAN_API_URL": url,
                "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
                "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",  # the emulator runs without limits
                "VAULT_ADDR": bao.address,
                "VAULT_TOKEN": bao.root_token,
            }
            seeding = VaultSink(path_prefix="audit", environ=env)
            for i, (key, secret_value) in enumerate(made):
                secret = Secret(secret_value)
                seeding.write(
                    f"apps/{i:05d}",
                    secret,
                    Ledger(secret.fingerprint, "2026-11-01T00:00:00Z", slot_a=key.uuid),
                    0,
                )
            declared = [
                {"name": f"audit-{i:05d}", "vault_path": f"apps/{i:05d}", "strategy": "in-place"}
                for i in range(args.keys)
            ]
            settings = parse_settings({"vault": {"path_prefix": "audit"}, "keys": declared}, "bench")
            context = KeyContext(settings.stack, settings.vault, settings.digitalocean)
            timings: dict[str, list[float]] = {"concurrent": [], "serial": [], "naive": []}
            for _ in range(args.runs):
                for label, workers in (("concurrent", 8), ("serial", 1)):
                    # as the command builds it, from its environment
                    ops = KeyOperations(context, ClientFactory(env))
                    started = time.perf_counter()
                    report: AuditReport = run_audit(settings, ops, workers=workers)
                    timings[label].append(time.perf_counter() - started)

                do = ModelKeys(ClientSettings(url, Secret(DEFAULT_TOKEN)))
                sink = VaultSink(path_prefix="audit", environ=env)
                sample = declared[: args.naive_sample]
                started = time.perf_counter()
                for spec in sample:
                    found = [k for k in do.list_all() if k.name == spec["name"]]  # no GET for one key
                    assert found
                    sink.read_ledger(spec["vault_path"], repair=False)
                timings["naive"].append(time.perf_counter() - started)
        finally:
            server.terminate()
            server.wait(timeout=10)

    scale = args.keys / len(sample)
    audit_seconds = statistics.median(timings["concurrent"])
    naive_seconds = statistics.median(timings["naive"])
    document = {
        "benchmark": "audit of declared keys against DigitalOcean and Vault",
        "keys": args.keys,
        "digitalocean_request_floor": math.ceil(args.keys / 200),
        "gradient_keys_audit": {
            "digitalocean_requests": report.digitalocean_requests,
            "vault_requests": report.vault_requests,
            "wall_seconds": round(audit_seconds, 2),
            "findings": len(report.findings),
        },
        "naive_per_key": {
            "measured_on_keys": len(sample),
            "digitalocean_requests_measured": do.requests_made,
            "vault_requests_measured": sink.requests_made,
            "wall_seconds_measured": round(naive_seconds, 2),
            "digitalocean_requests_extrapolated": round(do.requests_made * scale),
            "wall_seconds_extrapolated": round(naive_seconds * scale, 1),
        },
        "runs": args.runs,
        "wall_seconds": {
            "audit (8 concurrent Vault reads)": spread(timings["concurrent"]),
            "audit serial (1 worker)": spread(timings["serial"]),
            "naive per key, extrapolated": spread([t * scale for t in timings["naive"]]),
        },
        "serial_over_concurrent": ratio(statistics.median(timings["serial"]), audit_seconds),
        "naive_over_concurrent": ratio(naive_seconds * scale, audit_seconds),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
