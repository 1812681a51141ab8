"""Seeds, rounds and reports: shared by the pytest tier and `python -m tests.campaign`.

One master seed (GRADIENT_KEYS_CAMPAIGN_SEED) gives each scenario its first round seed; every later
round's seed is derived from the one before. A round is fully named by (scenario, seed), and
`python -m tests.campaign --seed SEED --scenario NAME --rounds 1` replays exactly that round.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.campaign.invariants import INVARIANTS, Violation, check, group
from tests.campaign.lab import Lab
from tests.campaign.scenarios import SCENARIOS, Scenario

__all__ = [
    "DEFAULT_MASTER_SEED",
    "DEFAULT_ROUNDS",
    "RoundResult",
    "ScenarioResult",
    "first_seed",
    "master_seed",
    "rounds_budget",
    "run_round",
    "run_scenario",
    "table",
]

MASTER_SEED_ENV = "GRADIENT_KEYS_CAMPAIGN_SEED"
ROUNDS_ENV = "GRADIENT_KEYS_CAMPAIGN_ROUNDS"
DEFAULT_MASTER_SEED = 20261125
# Rounds per scenario in CI (kill_all_then_single plays a quarter); measured in docs/reliability.md.
DEFAULT_ROUNDS = 7  # 93 rounds over the 14 scenarios: the CI budget


def master_seed() -> int:
    return int(os.environ.get(MASTER_SEED_ENV) or DEFAULT_MASTER_SEED)


def rounds_budget() -> int:
    return int(os.environ.get(ROUNDS_ENV) or DEFAULT_ROUNDS)


def _derive(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:8], 16) % 1_000_000_000


def first_seed(master: int, scenario: str) -> int:
    return _derive(master, scenario)


def seeds(first: int, rounds: int) -> list[int]:
    """The first seed, then each next one derived from the one before."""
    chain = [first]
    while len(chain) < rounds:
        chain.append(_derive(chain[-1], "next"))
    return chain


def reproduce(scenario: str, seed: int) -> str:
    return f"python -m tests.campaign --seed {seed} --scenario {scenario} --rounds 1"


@dataclass
class RoundResult:
    scenario: str
    seed: int
    violations: list[Violation]
    notes: list[str]
    exits: list[str]
    seconds: float
    error: str = ""  # the round itself could not be played (a harness failure, not a finding)

    def report(self) -> str:
        lines = [f"{self.scenario} seed {self.seed}: reproduce with `{reproduce(self.scenario, self.seed)}`"]
        if self.error:
            lines.append(f"  the round could not be played: {self.error}")
        for invariant, found in group(self.violations).items():
            lines.append(f"  ({invariant}) {INVARIANTS[invariant]}: {len(found)}")
            lines.extend(f"    - {v.line()}" for v in found)
        if self.notes:
            lines.append("  round: " + "; ".join(self.notes))
        if self.exits:
            lines.append("  runs: " + "; ".join(self.exits))
        return "\n".join(lines)


@dataclass
class ScenarioResult:
    name: str
    rounds: list[RoundResult] = field(default_factory=list)

    @property
    def violations(self) -> list[Violation]:
        return [v for r in self.rounds for v in r.violations]

    @property
    def failing(self) -> list[RoundResult]:
        return [r for r in self.rounds if r.violations or r.error]

    def report(self) -> str:
        head = (
            f"{self.name}: {len(self.failing)} of {len(self.rounds)} round(s) violated invariants "
            f"({len(self.violations)} violation(s))"
        )
        return "\n".join([head, *(r.report() for r in self.failing)])

    def by_invariant(self) -> dict[str, tuple[int, int]]:
        """invariant -> (violations, first seed showing it)."""
        counts: dict[str, tuple[int, int]] = {}
        for result in self.rounds:
            for invariant, found in group(result.violations).items():
                total, seed = counts.get(invariant, (0, result.seed))
                counts[invariant] = (total + len(found), seed)
        return counts


def run_round(
    lab: Lab, scenario: str, seed: int, scenarios: Mapping[str, Scenario] = SCENARIOS
) -> RoundResult:
    """Play one round and check every invariant; Vault and the emulator are restored afterwards."""
    started = time.monotonic()
    rng = random.Random(seed)
    notes: list[str] = []
    exits: list[str] = []
    violations: list[Violation] = []
    error = ""
    try:
        round_ = scenarios[scenario].play(rng, lab)
        round_.seed = seed
        violations = check(lab, round_)
        notes = round_.notes
        exits = [
            f"{r.label}: "
            + ("killed" if r.exit_code is None else f"exit {r.exit_code}")
            + f" ({r.seconds:.1f}s)"
            for r in round_.runs
        ]
    except Exception as exc:
        # Not a finding about the product: the round could not be played. Reported with its seed.
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    finally:
        lab.stop_commands()
        lab.emulator.faults.clear()
        lab.bao.restore()
    return RoundResult(scenario, seed, violations, notes, exits, round(time.monotonic() - started, 1), error)


def run_scenario(
    lab: Lab,
    scenario: str,
    first: int,
    rounds: int,
    progress: bool = False,
    scenarios: Mapping[str, Scenario] = SCENARIOS,
) -> ScenarioResult:
    """`rounds` is the budget per scenario; a scenario plays its share of it (`Scenario.rounds`)."""
    result = ScenarioResult(scenario)
    rounds = scenarios[scenario].rounds(rounds)
    for index, seed in enumerate(seeds(first, rounds), 1):
        outcome = run_round(lab, scenario, seed, scenarios)
        result.rounds.append(outcome)
        if progress:
            status = "ERROR" if outcome.error else f"{len(outcome.violations)} violation(s)"
            print(
                f"{scenario} round {index}/{rounds} seed {seed}: {status} ({outcome.seconds:.1f}s)",
                flush=True,
            )
            if outcome.violations or outcome.error:
                print(outcome.report(), flush=True)
    return result


def table(results: list[ScenarioResult]) -> str:
    """The scenario table docs/reliability.md publishes (Markdown)."""
    lines = [
        "| scenario | rounds | violating rounds | violations (by invariant) | a seed per kind | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        kinds = result.by_invariant()
        by_kind = ", ".join(f"{k}: {n}" for k, (n, _s) in kinds.items()) or "0"
        seeds_shown = ", ".join(f"{k}: {s}" for k, (_n, s) in kinds.items()) or "-"
        errors = sum(1 for r in result.rounds if r.error)
        if errors:
            by_kind += f" (+{errors} round(s) not played)"
        seconds = sum(r.seconds for r in result.rounds)
        lines.append(
            f"| {result.name} | {len(result.rounds)} | {len(result.failing)} | {by_kind} | {seeds_shown} "
            f"| {seconds:.0f} |"
        )
    return "\n".join(lines)
