"""The fault campaign as a test: every scenario, GRADIENT_KEYS_CAMPAIGN_ROUNDS rounds each (seeds
from GRADIENT_KEYS_CAMPAIGN_SEED). A scenario fails with every violation of every round, grouped by
invariant, each round with the command that replays it alone."""

from __future__ import annotations

import pytest

from tests.campaign.lab import Lab
from tests.campaign.runner import ScenarioResult, first_seed, master_seed, rounds_budget, run_scenario
from tests.campaign.scenarios import SCENARIOS

# Scenarios that still violate an invariant through a defect issue 12 lists, measured on the code of
# the day (docs/reliability.md). Non-strict: remove the mark when the fix lands and the scenario passes.
KNOWN_DEFECTS: dict[str, str] = {}


def _param(name: str) -> object:
    # pytest's default 300 s per test is for one round set; a bigger budget gets a longer leash.
    marks = [pytest.mark.timeout(300 + 120 * SCENARIOS[name].rounds(rounds_budget()))]
    reason = KNOWN_DEFECTS.get(name)
    if reason:
        marks.append(pytest.mark.xfail(strict=False, reason=reason))
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [_param(name) for name in SCENARIOS])
def test_scenario_keeps_every_invariant(
    lab: Lab, scenario: str, campaign_results: list[ScenarioResult]
) -> None:
    result = run_scenario(lab, scenario, first_seed(master_seed(), scenario), rounds_budget())
    campaign_results.append(result)
    if result.failing:
        pytest.fail(result.report(), pytrace=False)
