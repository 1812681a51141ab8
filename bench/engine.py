"""Benchmark: the real `pulumi` engine (scripts/setup builds it) on N declared dual-slot keys made
in the control panel, gradient-keys' program vs the naive baseline's (bench/naive_program.py,
bench/naive_provider.py) in the same run, against the sandbox and a real OpenBao.

Each run is a fresh stack (file backend, as tests/pulumi_cli drives it): the first `pulumi up`
(adoption), then `pulumi preview`, `pulumi refresh` and an unchanged `pulumi up`, each with
`--expect-no-changes` after the first. Counted from outside for each command: DigitalOcean requests
by operation at the emulator, Vault logins as the tokens Vault issued (AppRole, the generated
policy), wall time of the `pulumi` process. The emulator has no rate limit and the pacer's burst
spacing is off, so wall time is the tools' own cost.

The floor (issue 16): first up = 2 regenerates per key + ceil(2N / 200) lists; preview 0; refresh
ceil(2N / 200); unchanged up 0; one Vault login per provider process.

From 1,000 keys the engine runs with PULUMI_SKIP_CHECKPOINTS=true (recorded with the results).

    .venv/bin/python -m bench.engine [--keys 10 100 1000] [--runs 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import hvac

from bench.first_up import PREFIX, approle_environment, tokens
from bench.measure import machine, ratio, spread
from sandbox.openbao import start_dev_server
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig
from tests.pulumi_cli.engine import PulumiProject, find_pulumi
from tests.pulumi_cli.stackkit import make_in_panel

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "engine.json"
NAIVE_PROGRAM = REPO / "bench" / "naive_program.py"
PAGE = 200
# From this many keys the file backend's checkpoint after every step dominates (a first up of
# 1,000 keys: over 5 minutes with it, ~30 s without); Pulumi's own switch, noted in the results.
SKIP_CHECKPOINTS_FROM = 1000
VARIANTS = ("gradient-keys", "naive")
PHASES: dict[str, tuple[str, ...]] = {
    "first up": ("up", "--yes", "--skip-preview"),
    "preview": ("preview", "--expect-no-changes"),
    "refresh": ("refresh", "--yes", "--skip-preview", "--expect-no-changes"),
    "unchanged up": ("up", "--yes", "--skip-preview", "--expect-no-changes"),
}


def floors(count: int) -> dict[str, int]:
    lists = math.ceil(2 * count / PAGE)
    return {"first up": 2 * count + lists, "preview": 0, "refresh": lists, "unchanged up": 0}


def project(root: Path, pulumi: Path, env: dict[str, str], variant: str) -> PulumiProject:
    made = PulumiProject.create(root, pulumi, env)
    if variant == "naive":
        shutil.copy2(NAIVE_PROGRAM, made.root / "__main__.py")
        (made.root / "bench").symlink_to(REPO / "bench", target_is_directory=True)
    return made


def one_run(  # noqa: PLR0913 - the servers, the project's place, then what to run
    emulator: Emulator,
    root: hvac.Client,
    pulumi: Path,
    env: dict[str, str],
    work: Path,
    *,
    count: int,
    variant: str,
) -> dict[str, dict[str, Any]]:
    """One fresh stack of `count` keys through every phase: what each command cost."""
    emulator.reset()
    keys = [{"name": f"k-{i:05d}", "vault_path": f"apps/{i:05d}"} for i in range(count)]
    make_in_panel(emulator, keys)
    stack = project(work / uuid.uuid4().hex[:8], pulumi, env, variant)
    stack.configure(keys, f"{PREFIX}/{uuid.uuid4().hex[:8]}")
    measured: dict[str, dict[str, Any]] = {}
    for phase, args in PHASES.items():
        emulator.stats.reset()
        logins = tokens(root)
        run = stack.run(*args)
        by_operation = {op: sum(n.values()) for op, n in emulator.stats.view()["requests"].items()}
        measured[phase] = {
            "digitalocean_requests": sum(by_operation.values()),
            "by_operation": by_operation,
            "vault_logins": tokens(root) - logins,
            "wall_seconds": run.seconds,
        }
    shutil.rmtree(stack.root.parent, ignore_errors=True)
    return measured


def summarize(runs: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    for phase in PHASES:
        rows = [run[phase] for run in runs]
        phases[phase] = {
            "digitalocean_requests": spread([r["digitalocean_requests"] for r in rows]),
            "by_operation_first_run": rows[0]["by_operation"],
            "vault_logins": spread([r["vault_logins"] for r in rows]),
            "wall_seconds": spread([r["wall_seconds"] for r in rows]),
        }
    return phases


def run(counts: list[int], runs: int, progress: bool = True) -> dict[str, Any]:
    pulumi = find_pulumi()
    if pulumi is None:
        raise SystemExit("bench.engine: no `pulumi` engine; run scripts/setup (see docs/pulumi.md)")
    before = machine()
    results = []
    emulator = Emulator(EmulatorConfig(rate_limit_per_minute=0, rate_limit_per_hour=0))
    emulator.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, start_dev_server(log_path=Path(tmp) / "bao.log") as bao:
            root = hvac.Client(url=bao.address, token=bao.root_token)
            env = approle_environment(
                root,
                {
                    "DIGITALOCEAN_API_URL": emulator.base_url,
                    "DIGITALOCEAN_TOKEN": DEFAULT_TOKEN,
                    "DIGITALOCEAN_INFERENCE_URL": emulator.base_url,
                    "VAULT_ADDR": bao.address,
                    "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",  # the emulator has no burst limit
                },
            )
            for count in counts:
                extra = {"PULUMI_SKIP_CHECKPOINTS": "true"} if count >= SKIP_CHECKPOINTS_FROM else {}
                row: dict[str, Any] = {
                    "keys": count,
                    "floor": floors(count),
                    "engine_environment": extra,
                    "variants": {},
                }
                for variant in VARIANTS:
                    measured = []
                    for i in range(runs):
                        measured.append(
                            one_run(
                                emulator,
                                root,
                                pulumi,
                                {**env, **extra},
                                Path(tmp),
                                count=count,
                                variant=variant,
                            )
                        )
                        if progress:
                            walls = {p: round(m["wall_seconds"], 1) for p, m in measured[-1].items()}
                            print(f"engine N={count} {variant} run {i + 1}/{runs}: {walls}", flush=True)
                    row["variants"][variant] = summarize(measured)
                ours, naive = row["variants"]["gradient-keys"], row["variants"]["naive"]
                row["naive_over_ours"] = {
                    phase: {
                        metric: ratio(naive[phase][metric]["median"], ours[phase][metric]["median"])
                        for metric in ("digitalocean_requests", "vault_logins", "wall_seconds")
                    }
                    for phase in PHASES
                }
                results.append(row)
    finally:
        emulator.stop()
    return {
        "benchmark": "the real pulumi engine: first up, preview, refresh, unchanged up; ours vs naive",
        "runs": runs,
        "machine_before": before,
        "machine_after": machine(),
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    document = run(args.keys, args.runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
