"""`python -m tests.campaign`: the fault campaign outside pytest, for soaks and for replaying a seed.

    python -m tests.campaign --rounds 1000                       the soak: every scenario, 1000 rounds each
    python -m tests.campaign --seed N --scenario NAME --rounds 1  replay the round a failure printed
    python -m tests.campaign --list                              the scenarios

Without --seed, each scenario's first seed comes from GRADIENT_KEYS_CAMPAIGN_SEED (a fixed default).
Prints each round as it ends, every violation grouped by invariant with its seed, then the scenario
table (Markdown, as docs/reliability.md shows it). Exits 1 when any round violated an invariant.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

from tests.campaign.lab import Lab
from tests.campaign.runner import (
    ScenarioResult,
    first_seed,
    master_seed,
    rounds_budget,
    run_scenario,
    table,
)
from tests.campaign.scenarios import SCENARIOS, measure_clean_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.campaign", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="repeatable; default all"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per scenario (default: the CI budget)"
    )
    parser.add_argument("--seed", type=int, default=None, help="the first round's seed (default: derived)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, scenario in SCENARIOS.items():
            print(f"{name:24} {scenario.summary}")
        return 0
    names = args.scenario or list(SCENARIOS)
    rounds = args.rounds if args.rounds is not None else rounds_budget()
    master = master_seed()
    started = time.monotonic()
    results: list[ScenarioResult] = []
    with Lab() as lab:
        clean = measure_clean_run(lab)
        print(f"a clean `rotate --all` of the standard stack takes {clean:.2f}s here", flush=True)
        for name in names:
            first = args.seed if args.seed is not None else first_seed(master, name)
            results.append(run_scenario(lab, name, first, rounds, progress=True))
    seconds = time.monotonic() - started
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    seed_said = f"first seed {args.seed}" if args.seed is not None else f"master seed {master}"
    print(f"\n{table(results)}\n\n{stamp}, {seed_said}, {os.cpu_count()} CPU(s), {seconds:.0f}s in all")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": stamp,
                    "master_seed": master,
                    "first_seed": args.seed,
                    "clean_run_seconds": clean,
                    "seconds": round(seconds, 1),
                    "scenarios": [
                        {
                            "name": r.name,
                            "rounds": [
                                {
                                    "seed": x.seed,
                                    "seconds": x.seconds,
                                    "violations": [vars(v) for v in x.violations],
                                    "error": x.error,
                                    "notes": x.notes,
                                    "runs": x.exits,
                                }
                                for x in r.rounds
                            ],
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    return 1 if any(r.failing for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
