"""Benchmark: the first `pulumi up` of N dual-slot keys made in the control panel (adoption).

Drives a provider process as the engine does (`python -m pulumi.dynamic` over gRPC: a check of
every key, then up to 8 creates at once) against the sandbox emulator and a real OpenBao, for
gradient-keys' provider and, in the same run, a naive dynamic provider (bench/naive_provider.py:
clients and a Vault login per call, a listing per create). Counted from outside: DigitalOcean
requests by operation at the emulator, Vault logins as the tokens Vault issued (AppRole).

The floor (issue 16): 2 regenerates per key (each slot once) + ceil(2N / 200) listing pages.
The emulator runs without a rate limit and the pacer's burst spacing is off, so wall time is the
tool's own cost; what the requests cost against DigitalOcean's limits (250 a minute, 5,000 an
hour per token) is computed from the counts.

    .venv/bin/python -m bench.first_up [--keys 10 100 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hvac
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

from bench.naive_provider import NaiveKeyProvider
from components.config import parse_settings
from components.keys import KeyContext
from components.provider import ModelKeyProvider, inputs_for
from components.vault_policy import render_policy
from sandbox.openbao import OpenBaoServer, start_dev_server
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig
from tests.provider.harness import ProviderProcess, from_struct, strip_secrets

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "first_up.json"
ENGINE_PARALLELISM = 8
PAGE = 200
PREFIX = "bench-first-up"
BURST_PER_MINUTE, HOURLY_QUOTA = 250, 5000  # DigitalOcean's documented limits per token


def declarations(provider: ResourceProvider, count: int, prefix: str) -> dict[str, dict[str, Any]]:
    serialized = serialize_provider(provider)
    declared = {}
    for i in range(count):
        name = f"fu-{i:05d}"
        settings = parse_settings(
            {"keys": [{"name": name, "vault_path": f"apps/{i:05d}"}], "vault": {"path_prefix": prefix}},
            "bench",
        )
        inputs = inputs_for(settings.keys[0], KeyContext("bench", settings.vault, settings.digitalocean))
        declared[name] = strip_secrets({"__provider": serialized, **inputs})
    return declared


def approle_environment(root: hvac.Client, base: dict[str, str]) -> dict[str, str]:
    """AppRole credentials for the generated policy: every login mints a token Vault counts."""
    mount = f"approle-{uuid.uuid4().hex[:6]}"
    root.sys.create_or_update_policy("bench-first-up", render_policy("secret", PREFIX))
    root.sys.enable_auth_method("approle", path=mount)
    root.auth.approle.create_or_update_approle("bench", token_policies=["bench-first-up"], mount_point=mount)
    role_id = root.auth.approle.read_role_id("bench", mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("bench", mount_point=mount)["data"]["secret_id"]
    return {**base, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id, "VAULT_APPROLE_MOUNT": mount}


def tokens(root: hvac.Client) -> int:
    return len(root.auth.token.list_accessors()["data"]["keys"])


def first_up(process: ProviderProcess, declared: dict[str, dict[str, Any]]) -> None:
    """A check of every key, then the creates `ENGINE_PARALLELISM` at a time."""
    checked = {}
    for name, news in declared.items():
        answer = process.check(name, {}, news)
        if answer.failures:
            raise RuntimeError(f"check {name}: {answer.failures}")
        checked[name] = from_struct(answer.inputs)

    def create(name: str) -> None:
        process.create(name, checked[name])

    with ThreadPoolExecutor(ENGINE_PARALLELISM) as pool:
        list(pool.map(create, declared))


def measure(  # noqa: PLR0913 - the two servers, the size; provider and home by keyword
    emulator: Emulator,
    bao: OpenBaoServer,
    root: hvac.Client,
    count: int,
    *,
    provider: ResourceProvider,
    home: str,
) -> dict[str, Any]:
    emulator.reset()
    for i in range(count):
        for slot in "ab":
            emulator.console_create(f"fu-{i:05d}-slot-{slot}")
    prefix = f"{PREFIX}/{uuid.uuid4().hex[:8]}"
    env = approle_environment(
        root,
        {
            "DIGITALOCEAN_API_URL": emulator.base_url,
            "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
            "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
            "VAULT_ADDR": bao.address,
            "HOME": home,  # a ~/.vault-token of the user's would win over AppRole
            # The emulator here has no rate limit; pacing under one is reported as computed minutes.
            "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",
        },
    )
    declared = declarations(provider, count, prefix)
    process = ProviderProcess(env)
    try:
        emulator.stats.reset()
        logins_before = tokens(root)
        started = time.perf_counter()
        first_up(process, declared)
        wall = time.perf_counter() - started
    finally:
        process.close()
    by_operation = {op: sum(outcomes.values()) for op, outcomes in emulator.stats.view()["requests"].items()}
    total = sum(by_operation.values())
    return {
        "digitalocean_requests": total,
        "by_operation": by_operation,
        "requests_per_key": round(total / count, 3),
        "vault_logins": tokens(root) - logins_before,
        "wall_seconds": round(wall, 2),
        "minutes_at_the_burst_limit": round(total / BURST_PER_MINUTE, 1),
        "hours_at_the_hourly_quota": round(total / HOURLY_QUOTA, 2),
    }


def run(counts: list[int]) -> dict[str, Any]:
    variants: dict[str, Callable[[], ResourceProvider]] = {
        "gradient-keys": ModelKeyProvider,
        "naive (a listing and a login per create)": NaiveKeyProvider,
    }
    emulator = Emulator(EmulatorConfig(rate_limit_per_minute=0, rate_limit_per_hour=0))
    emulator.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, start_dev_server(log_path=Path(tmp) / "bao.log") as bao:
            root = hvac.Client(url=bao.address, token=bao.root_token)
            results = []
            for count in counts:
                floor = 2 * count + math.ceil(2 * count / PAGE)
                row: dict[str, Any] = {
                    "keys": count,
                    "floor": floor,
                    "floor_per_key": round(floor / count, 3),
                }
                for label, provider in variants.items():
                    row[label] = measure(emulator, bao, root, count, provider=provider(), home=tmp)
                    print(json.dumps({"keys": count, label: row[label]}), flush=True)
                results.append(row)
    finally:
        emulator.stop()
    return {
        "benchmark": "first pulumi up (adoption of dual-slot keys), provider over gRPC, 8 creates at once",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    document = run(args.keys)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
