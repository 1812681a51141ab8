"""The HA campaign: every HA scenario (tests/ha/scenarios.py), GRADIENT_KEYS_CAMPAIGN_ROUNDS rounds
each, against a 3-node OpenBao cluster; each round judged by the campaign's invariants."""

from __future__ import annotations

import pytest

from tests.campaign.lab import Lab
from tests.campaign.runner import ScenarioResult, first_seed, master_seed, rounds_budget, run_scenario
from tests.ha.scenarios import HA_SCENARIOS


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("scenario", list(HA_SCENARIOS))
def test_ha_scenario_keeps_every_invariant(
    ha_lab: Lab, scenario: str, ha_results: list[ScenarioResult]
) -> None:
    result = run_scenario(
        ha_lab, scenario, first_seed(master_seed(), scenario), rounds_budget(), scenarios=HA_SCENARIOS
    )
    ha_results.append(result)
    if result.failing:
        pytest.fail(result.report(), pytrace=False)
